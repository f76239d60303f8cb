"""The `/v1` REST API (Letta wire format), one module per resource and one APIView per operation."""
