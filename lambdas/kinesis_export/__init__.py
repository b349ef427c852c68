"""Export segment qualification events to an Amazon Kinesis data stream in AEP's format."""
