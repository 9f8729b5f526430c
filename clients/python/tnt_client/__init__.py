"""A blocking Python client for TNTServe, written from docs/PROTOCOL.md.

    from tnt_client import Client, RPCError
    with Client("127.0.0.1:50051", timeout=10) as client:
        result = client.predict(open("cat.jpg", "rb").read(), top_k=5)[0]
        print(result.class_ids, list(result.scores), list(result.label_names))

Every call raises `RPCError` (with `.code`, gRPC's number, and `.name`) when the server answers
a non-OK status; connection failures raise `RPCError` with code UNAVAILABLE.
"""
from .client import Client, RPCError, StatusCode

__all__ = ["Client", "RPCError", "StatusCode"]
