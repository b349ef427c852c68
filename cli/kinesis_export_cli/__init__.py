"""Operator tooling for the exporter: the `kinesis-export` command line, and moto-backed local runs.

Kept outside lambdas/ so that none of it ships in the functions' asset; it imports the function's
package (kinesis_export) for the config, the record plan, the writer and the connection check.
"""
