"""The framing of docs/PROTOCOL.md over a blocking socket, and the four methods."""
import socket
import ssl
import struct
import threading

from .proto import classifier_pb2, health_pb2, models_pb2, rpc_pb2

PREFACE = b"TNTRPC\x01\x00"
HEADER = struct.Struct(">IBBHI")  # payload length, type, flags, reserved, stream id
REQUEST, RESPONSE, CANCEL, PING, PONG, GOAWAY = 1, 2, 3, 4, 5, 6


class StatusCode:
    """gRPC's status codes, by name."""
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @classmethod
    def name(cls, code):
        for key, value in vars(cls).items():
            if value == code and key.isupper():
                return key
        return f"CODE_{code}"


class RPCError(Exception):
    """A call's failure: `.code` (gRPC's number), `.name` and `.message`."""

    def __init__(self, code, message):
        super().__init__(f"{StatusCode.name(code)}: {message}")
        self.code = code
        self.name = StatusCode.name(code)
        self.message = message


def tls_context(ca=None, cert=None, key=None):
    """An `ssl.SSLContext` for `Client(tls=...)`: the server's certificate must be signed by a
    CA in the PEM file `ca` (the system's CAs when None) and carry the name connected to; with
    `cert` and `key` (PEM), the client presents that certificate (mutual TLS). TLS 1.2+."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert or key:
        context.load_cert_chain(cert, key)
    return context


# OpenSSL's reasons (ssl.SSLError.reason) and what they mean for a TNTServe client.
_TLS_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate (mutual TLS) and none was sent",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server refused this client's certificate: it has expired",
    "TLSV1_ALERT_UNKNOWN_CA": "the server refused this client's certificate: it is not signed by a CA the server trusts",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused this client's certificate",
    "WRONG_VERSION_NUMBER": "the server does not speak TLS on this port (a plaintext endpoint?)",
    "RECORD_LAYER_FAILURE": "the server does not speak TLS on this port (a plaintext endpoint?)",
    "UNSUPPORTED_PROTOCOL": "no TLS version both sides accept (TLS 1.2 or later is required)",
}


def _tls_failure(error):
    """A TLS error in words a person can act on."""
    if isinstance(error, ssl.SSLCertVerificationError):
        untrusted = error.verify_code in (2, 19, 20, 21)  # issuer unknown, self-signed in chain, local issuer, leaf
        why = "it is not signed by a CA this client trusts (tls_context(ca=...))" if untrusted else error.verify_message
        return f"the server's certificate failed verification: {why}"
    reason = getattr(error, "reason", None)
    return _TLS_REASONS.get(reason, f"TLS failed: {error}")


class Client:
    """One connection to one server; calls are sequential on it (use one Client per thread).

    `timeout` (seconds) bounds connecting and each call, and is sent to the server as the
    call's deadline. `tls`: an `ssl.SSLContext` (see `tls_context`) for a TLS port, or None;
    `server_name`: the name the server's certificate must carry (the endpoint's host by
    default). `token` is sent with every call as `authorization: Bearer <token>`.
    """

    def __init__(self, endpoint, timeout=30.0, tls=None, server_name=None, token=None):
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"endpoint {endpoint!r} is not host:port")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:50051
        self.timeout = timeout
        self._metadata = {"authorization": f"Bearer {token}"} if token else {}
        self._goaway = None
        self._lock = threading.Lock()
        self._next_stream = 1
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                if isinstance(tls, bool):
                    tls = tls_context()
                sock = tls.wrap_socket(sock, server_hostname=server_name or host)
            self._sock = sock
            self._sock.sendall(PREFACE)
            # Under mutual TLS 1.3 a refused client certificate shows here, at the first read.
            if self._read(8) != PREFACE:
                raise RPCError(StatusCode.UNAVAILABLE, f"{endpoint} is not a TNTServe server")
        except ssl.SSLError as error:
            raise RPCError(StatusCode.UNAVAILABLE, f"cannot connect to {endpoint}: {_tls_failure(error)}") from None
        except OSError as error:
            raise RPCError(StatusCode.UNAVAILABLE, f"cannot connect to {endpoint}: {error}") from None

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, n):
        data = bytearray()
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise RPCError(StatusCode.UNAVAILABLE, "connection closed by the server")
            data += chunk
        return bytes(data)

    def call(self, method, request, response_type, timeout=None, metadata=None):
        """Sends `request` (a protobuf message) to `method`; returns a `response_type`."""
        timeout = self.timeout if timeout is None else timeout
        envelope = rpc_pb2.RequestEnvelope(method=method, payload=request.SerializeToString())
        if timeout:
            envelope.timeout_us = max(1, int(timeout * 1e6))
        for key, value in {**self._metadata, **(metadata or {})}.items():
            envelope.metadata.add(key=key, value=value)
        payload = envelope.SerializeToString()
        with self._lock:
            if self._goaway is not None:
                raise RPCError(StatusCode.UNAVAILABLE, f"not processed: server sent GOAWAY ({self._goaway.message}); open a new Client")
            stream = self._next_stream
            self._next_stream += 1
            try:
                # The server answers DEADLINE_EXCEEDED itself; the socket waits a little longer.
                self._sock.settimeout(timeout + 5 if timeout else None)
                self._sock.sendall(HEADER.pack(len(payload), REQUEST, 0, 0, stream) + payload)
                while True:
                    length, kind, _flags, _reserved, got = HEADER.unpack(self._read(HEADER.size))
                    body = self._read(length)
                    if kind == RESPONSE and got == stream:
                        break
                    if kind == PING:
                        self._sock.sendall(HEADER.pack(len(body), PONG, 0, 0, 0) + body)
                    elif kind == GOAWAY:
                        goaway = rpc_pb2.GoAway.FromString(body)
                        self._goaway = goaway
                        if goaway.last_stream_id < stream:
                            raise RPCError(StatusCode.UNAVAILABLE, f"not processed: server sent GOAWAY ({goaway.message})")
            except socket.timeout:
                raise RPCError(StatusCode.DEADLINE_EXCEEDED, f"no answer within {timeout} s") from None
            except OSError as error:
                raise RPCError(StatusCode.UNAVAILABLE, f"connection failed: {error}") from None
        response = rpc_pb2.ResponseEnvelope.FromString(body)
        if response.status != StatusCode.OK:
            raise RPCError(response.status, response.message)
        return response_type.FromString(response.payload)

    def predict(self, images, model="", top_k=5, timeout=None, probabilities=False, logits=False, features=False):
        """Classifies encoded PNG/JPEG images (bytes, or a list of bytes); returns one
        `Classification` per image, in order."""
        if isinstance(images, (bytes, bytearray)):
            images = [images]
        request = classifier_pb2.PredictRequest(model=model, top_k=top_k, return_probabilities=probabilities,
                                                return_logits=logits, return_features=features)
        for image in images:
            request.inputs.add(encoded_image=bytes(image))
        return list(self.call("/tnt.v1.Classifier/Predict", request, classifier_pb2.PredictResponse, timeout).results)

    def predict_tensor(self, data, shape, model="", top_k=5, timeout=None):
        """Classifies one preprocessed float32 tensor (flat list of numbers, shape [3, H, W])."""
        request = classifier_pb2.PredictRequest(model=model, top_k=top_k)
        request.inputs.add().tensor.CopyFrom(classifier_pb2.Tensor(shape=list(shape), data=list(data)))
        return self.call("/tnt.v1.Classifier/Predict", request, classifier_pb2.PredictResponse, timeout).results[0]

    def health(self, service="", timeout=None):
        """grpc.health.v1 status name: "SERVING", "NOT_SERVING", ..."""
        response = self.call("/tnt.v1.Health/Check", health_pb2.HealthCheckRequest(service=service),
                             health_pb2.HealthCheckResponse, timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def models(self, timeout=None):
        return list(self.call("/tnt.v1.Models/List", models_pb2.ListModelsRequest(), models_pb2.ListModelsResponse, timeout).models)

    def model(self, name, timeout=None):
        return self.call("/tnt.v1.Models/Get", models_pb2.GetModelRequest(name=name), models_pb2.ModelInfo, timeout)
