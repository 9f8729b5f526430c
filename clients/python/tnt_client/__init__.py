"""A blocking Python client for TNTServe, written from docs/PROTOCOL.md.

    from tnt_client import Client, RPCError
    with Client("127.0.0.1:50051", timeout=10) as client:
        result = client.predict(open("cat.jpg", "rb").read(), top_k=5)[0]
        print(result.class_ids, list(result.scores), list(result.label_names))

Over TLS (mutual TLS with `cert` and `key`), with a token (docs/SECURITY.md):

    from tnt_client import Client, tls_context
    client = Client("tnt.example:50051", tls=tls_context(ca="ca.pem"), token=os.environ["TNT_TOKEN"])

Every call raises `RPCError` (with `.code`, gRPC's number, and `.name`) when the server answers
a non-OK status; connection failures raise `RPCError` with code UNAVAILABLE.
"""
from .client import Client, RPCError, StatusCode, tls_context

__all__ = ["Client", "RPCError", "StatusCode", "tls_context"]
