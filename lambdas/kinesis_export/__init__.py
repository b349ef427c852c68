"""Export segment qualification events to an Amazon Kinesis data stream in AEP's format."""

import os

# pydantic looks for plugins in the entry points of every installed distribution when it
# builds its first model. This package uses none, and that scan was a large share of the
# cold start; set PYDANTIC_DISABLE_PLUGINS to an empty value to let plugins load.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
