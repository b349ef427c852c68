from kinesis_export.identities import sha256

# FIPS 180-2's test vector: SHA-256 of "abc".
SHA256_OF_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_trims_and_lowercases_before_hashing():
    assert sha256("  ABC \n") == SHA256_OF_ABC


def test_value_already_hashed_is_passed_through_in_lower_case():
    assert sha256(SHA256_OF_ABC.upper()) == SHA256_OF_ABC


def test_hex_of_other_length_is_hashed_like_any_value():
    short_hex = "655332b5fa2aea4498bf7a290cff017cb4"

    assert sha256(short_hex) != short_hex
    assert len(sha256(short_hex)) == 64
