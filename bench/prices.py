"""AWS list prices used by the cost estimate, in one place (US East (N. Virginia), USD).

Taken from the public pricing pages of Lambda, SQS, Kinesis Data Streams and DynamoDB; check them
for your region before relying on the estimate.
"""

LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
SQS_STANDARD_PER_MILLION_REQUESTS = 0.40  # each 64 KiB chunk of a payload is one request
KINESIS_ON_DEMAND_PER_GB_INGESTED = 0.08  # each record rounded up to the next KiB
# DynamoDB on demand (standard table class), since the price cut of November 2024: a write request unit
# writes an item of up to 1 KB; a read request unit reads an item of up to 4 KB strongly consistent (the
# profile state is read so), an absent item included.
DYNAMODB_ON_DEMAND_PER_MILLION_WRITE_UNITS = 0.625
DYNAMODB_ON_DEMAND_PER_MILLION_READ_UNITS = 0.125
# Not per event, so left out of the estimate: Kinesis on-demand's $0.04 per stream-hour,
# CloudWatch logs and metrics, DynamoDB storage ($0.25 per GB-month) and backups, and free tiers.
