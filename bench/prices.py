"""AWS list prices used by the cost estimate, in one place (US East (N. Virginia), USD).

Taken from the public pricing pages of Lambda, SQS and Kinesis Data Streams; check them
for your region before relying on the estimate.
"""

LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
SQS_STANDARD_PER_MILLION_REQUESTS = 0.40  # each 64 KiB chunk of a payload is one request
KINESIS_ON_DEMAND_PER_GB_INGESTED = 0.08  # each record rounded up to the next KiB
# Not per event, so left out of the estimate: Kinesis on-demand's $0.04 per stream-hour,
# CloudWatch logs and metrics, and free tiers.
