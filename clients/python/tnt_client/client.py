"""The framing of docs/PROTOCOL.md over a blocking socket, and the four methods."""
import select
import socket
import ssl
import struct
import threading
import time

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


def _backoff(count, cap):
    """Seconds to wait after the `count`-th failure: 50 ms doubling, at most `cap`."""
    return min(cap, 0.05 * 2 ** (count - 1))


class _NotProcessed(Exception):
    """The server did not process the call: it may go to another server."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class _Connection:
    """One socket to one server address; one call at a time on it."""

    def __init__(self, host, port, timeout, tls, server_name):
        self.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.goaway = None
        self.closed = False
        self._next_stream = 1
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=server_name)
            self._sock = sock
            self._sock.sendall(PREFACE)
            # Under mutual TLS 1.3 a refused client certificate shows here, at the first read.
            if self._read(8) != PREFACE:
                raise RPCError(StatusCode.UNAVAILABLE, f"{self.name} is not a TNTServe server")
        except ssl.SSLError as error:
            raise RPCError(StatusCode.UNAVAILABLE, f"cannot connect to {self.name}: {_tls_failure(error)}") from None
        except OSError as error:
            raise RPCError(StatusCode.UNAVAILABLE, f"cannot connect to {self.name}: {error}") from None

    @property
    def usable(self):
        return self.goaway is None and not self.closed

    def close(self):
        self.closed = True
        self._sock.close()

    def _read(self, n):
        data = bytearray()
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise RPCError(StatusCode.UNAVAILABLE, "connection closed by the server")
            data += chunk
        return bytes(data)

    def _handle(self, kind, body, stream):
        """A frame other than our RESPONSE: PING, GOAWAY (raises when it excludes `stream`)."""
        if kind == PING:
            self._sock.sendall(HEADER.pack(len(body), PONG, 0, 0, 0) + body)
        elif kind == GOAWAY:
            self.goaway = rpc_pb2.GoAway.FromString(body)
            if stream is not None and self.goaway.last_stream_id < stream:
                if self.goaway.status not in (StatusCode.OK, StatusCode.UNAVAILABLE):
                    # Refused for what it was (a frame too large): sending it again cannot help.
                    raise RPCError(self.goaway.status, f"server sent GOAWAY: {self.goaway.message}")
                raise _NotProcessed(f"server sent GOAWAY ({self.goaway.message})")

    def catch_up(self):
        """Reads what the server sent while the connection was idle: a GOAWAY (an aged-out
        or draining server), a PING, or its close; afterwards `usable` says whether a call
        may be sent on it."""
        try:
            while self.usable:
                pending = self._sock.pending() if isinstance(self._sock, ssl.SSLSocket) else 0
                if not pending and not select.select([self._sock], [], [], 0)[0]:
                    return
                self._sock.settimeout(1)
                length, kind, _flags, _reserved, _stream = HEADER.unpack(self._read(HEADER.size))
                self._handle(kind, self._read(length), None)
        except (OSError, RPCError, _NotProcessed):
            self.closed = True

    def call(self, payload, timeout):
        """Sends one REQUEST; returns the RESPONSE's ResponseEnvelope."""
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
                    return rpc_pb2.ResponseEnvelope.FromString(body)
                self._handle(kind, body, stream)
        except socket.timeout:
            self.closed = True
            raise RPCError(StatusCode.DEADLINE_EXCEEDED, f"no answer within {timeout} s") from None
        except OSError as error:
            self.closed = True
            raise RPCError(StatusCode.UNAVAILABLE, f"connection to {self.name} failed with the call in flight: {error}") from None
        except RPCError:
            self.closed = True
            raise


class _Target:
    """One address of one endpoint: its idle connections and its health."""

    def __init__(self, endpoint, host, port):
        self.endpoint, self.host, self.port = endpoint, host, port
        self.idle = []
        self.in_flight = 0
        self.failures = 0
        self.ejected_until = 0.0
        self.removed = False


class Client:
    """A client of one or more servers, safe to share between threads.

    `endpoints`: "host:port", or a list of them. A host that is a DNS name stands for every
    address it resolves to (a Kubernetes headless Service): calls go round robin over every
    address; names are resolved again every `reresolve_interval` seconds and when a connection
    goes away, so that new servers get calls and removed ones are left once their calls are
    answered. Each thread's call takes an idle connection to the chosen address, or opens one.
    A call the server did not process (GOAWAY, UNAVAILABLE, no connection) is sent again, to
    the next address, up to `max_attempts` times within its timeout.

    `timeout` (seconds) bounds connecting and each call, and is sent to the server as the
    call's deadline. `tls`: an `ssl.SSLContext` (see `tls_context`) for a TLS port, or None;
    `server_name`: the name the server's certificate must carry (the endpoint's host by
    default). `token` is sent with every call as `authorization: Bearer <token>`.
    """

    def __init__(self, endpoints, timeout=30.0, tls=None, server_name=None, token=None,
                 reresolve_interval=30.0, max_attempts=5):
        self.timeout = timeout
        self.reresolve_interval = reresolve_interval
        self.max_attempts = max(1, max_attempts)
        self._tls = tls_context() if tls is True else tls
        self._server_name = server_name
        self._metadata = {"authorization": f"Bearer {token}"} if token else {}
        self._endpoints = [self._parse(e) for e in ([endpoints] if isinstance(endpoints, str) else endpoints)]
        if not self._endpoints:
            raise ValueError("a Client needs at least one endpoint")
        self._lock = threading.Lock()
        self._targets = []
        self._cursor = 0
        self._resolved_at = 0.0
        self._resolve_due = True
        self._resolve()
        # Connect once now, so that a wrong address or a refused TLS handshake fails here.
        errors = []
        for target in list(self._targets):
            try:
                target.idle.append(self._open(target))
                return
            except RPCError as error:
                errors.append(error.message)
        raise RPCError(StatusCode.UNAVAILABLE, "; ".join(errors) or "no server")

    @staticmethod
    def _parse(endpoint):
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"endpoint {endpoint!r} is not host:port")
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host, int(port)  # [::1]:50051

    # Addresses

    def _resolve(self):
        """Every endpoint's addresses now; new ones join, gone ones leave once idle."""
        found = []
        for index, (host, port) in enumerate(self._endpoints):
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as error:
                if not self._targets:
                    raise RPCError(StatusCode.UNAVAILABLE, f"cannot resolve {host}: {error}") from None
                # A failed lookup keeps what was known: DNS trouble is not a fleet going away.
                found += [(t.endpoint, t.host) for t in self._targets if t.endpoint == index and not t.removed]
                continue
            for info in infos:
                if (index, info[4][0]) not in found:
                    found.append((index, info[4][0]))
        with self._lock:
            known = {(t.endpoint, t.host): t for t in self._targets}
            for key in found:
                if key in known:
                    known[key].removed = False
                else:
                    self._targets.append(_Target(key[0], key[1], self._endpoints[key[0]][1]))
            for key, target in known.items():
                if key not in found and not target.removed:
                    target.removed = True
                    for connection in target.idle:
                        connection.close()
                    target.idle.clear()
            self._targets = [t for t in self._targets if not (t.removed and t.in_flight == 0)]
            self._resolved_at = time.monotonic()
            self._resolve_due = False

    @property
    def servers(self):
        """The addresses taking calls now."""
        with self._lock:
            return [f"{t.host}:{t.port}" for t in self._targets if not t.removed]

    def _pick(self):
        if self._resolve_due or time.monotonic() - self._resolved_at >= self.reresolve_interval:
            self._resolve()
        with self._lock:
            live = [t for t in self._targets if not t.removed]
            if not live:
                self._resolve_due = True
                raise _NotProcessed("no server address")
            now = time.monotonic()
            ready = [t for t in live if t.ejected_until <= now] or [min(live, key=lambda t: t.ejected_until)]
            target = ready[self._cursor % len(ready)]
            self._cursor += 1
            target.in_flight += 1
            return target

    def _open(self, target):
        host_name = self._endpoints[target.endpoint][0]
        return _Connection(target.host, target.port, self.timeout, self._tls, self._server_name or host_name)

    def _checkout(self, target):
        while True:
            with self._lock:
                connection = target.idle.pop() if target.idle else None
            if connection is None:
                break
            connection.catch_up()
            if connection.usable:
                return connection
            # GOAWAY (an aged-out or draining server) or closed while idle: look at DNS again.
            connection.close()
            self._resolve_due = True
        try:
            return self._open(target)
        except RPCError as error:
            raise _NotProcessed(error.message) from None

    def _checkin(self, target, connection):
        with self._lock:
            target.in_flight -= 1
            if connection is not None and connection.usable and not target.removed:
                target.idle.append(connection)
                connection = None
            if target.removed and target.in_flight == 0 and target in self._targets:
                self._targets.remove(target)
        if connection is not None:
            connection.close()
            self._resolve_due = True  # a connection went away: look at DNS again

    def _failed(self, target):
        with self._lock:
            target.failures += 1
            target.ejected_until = time.monotonic() + _backoff(target.failures, cap=2.0)

    def close(self):
        with self._lock:
            for target in self._targets:
                for connection in target.idle:
                    connection.close()
                target.idle.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _pause(self, attempt, deadline):
        """Backoff before the next attempt: 50 ms doubling to 1 s, within the deadline."""
        if attempt < self.max_attempts:
            time.sleep(max(0.0, min(_backoff(attempt, cap=1.0), deadline - time.monotonic() if deadline else 1.0)))

    def call(self, method, request, response_type, timeout=None, metadata=None):
        """Sends `request` (a protobuf message) to `method`; returns a `response_type`."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout if timeout else None
        body = request.SerializeToString()
        last = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            remaining = deadline - time.monotonic() if deadline else None
            if remaining is not None and remaining <= 0:
                raise RPCError(StatusCode.DEADLINE_EXCEEDED, f"deadline exceeded after {attempt - 1} attempts; last: {last}")
            envelope = rpc_pb2.RequestEnvelope(method=method, payload=body)
            if remaining:
                envelope.timeout_us = max(1, int(remaining * 1e6))
            for key, value in {**self._metadata, **(metadata or {})}.items():
                envelope.metadata.add(key=key, value=value)
            try:
                target = self._pick()
            except _NotProcessed as error:
                last = error.reason
                self._pause(attempt, deadline)
                continue
            connection = None
            try:
                connection = self._checkout(target)
                response = connection.call(envelope.SerializeToString(), remaining)
            except _NotProcessed as error:
                last = f"{connection.name if connection else target.host}: {error.reason}"
                self._failed(target)
                self._checkin(target, connection)
                self._pause(attempt, deadline)
                continue
            except RPCError:
                # Lost with its connection: it may have run, so it is not sent again.
                self._failed(target)
                self._checkin(target, connection)
                raise
            self._checkin(target, connection)
            if response.status == StatusCode.UNAVAILABLE:
                # Refused before any work (a full queue, a draining server): try the next one.
                last = f"{connection.name} answered UNAVAILABLE: {response.message}"
                self._failed(target)
                self._pause(attempt, deadline)
                continue
            with self._lock:
                target.failures = 0
                target.ejected_until = 0.0
            if response.status != StatusCode.OK:
                raise RPCError(response.status, response.message)
            return response_type.FromString(response.payload)
        raise RPCError(StatusCode.UNAVAILABLE, f"not processed: no server took the call after {self.max_attempts} attempts; last: {last}")

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
