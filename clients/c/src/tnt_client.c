/* The framing of docs/PROTOCOL.md over a blocking socket, messages through protobuf-c. */
#define _POSIX_C_SOURCE 200809L
#include "tnt_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"
#include "tnt/v1/classifier.pb-c.h"
#include "tnt/v1/health.pb-c.h"
#include "tnt/v1/rpc.pb-c.h"

static const uint8_t PREFACE[8] = {'T', 'N', 'T', 'R', 'P', 'C', 1, 0};
enum { HEADER_SIZE = 12, FRAME_REQUEST = 1, FRAME_RESPONSE = 2, FRAME_PING = 4, FRAME_PONG = 5, FRAME_GOAWAY = 6 };

struct tnt_client {
    int fd;
    tnt_tls *tls; /* NULL for plaintext */
    tnt_client_params params;
    char host[256];
    int port;
    int next_address; /* of the name's addresses, the one to try first on reconnecting */
    int goaway;       /* the server sent GOAWAY (or closed): the next call reconnects */
    uint32_t next_stream;
    char error[512];
};

tnt_client_params tnt_client_default_params(void) {
    tnt_client_params p = {.timeout_ms = 30000, .max_frame_size = 16u << 20};
    return p;
}

/* Sets the client's message; the arguments may include the previous message. */
static int fail(tnt_client *c, int status, const char *format, ...) {
    char message[sizeof c->error];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    memcpy(c->error, message, sizeof message);
    return status;
}

const char *tnt_client_last_error(const tnt_client *client) {
    return client ? client->error : "no client";
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events`, or the deadline (ms, 0 = none) passes. */
static int wait_ready(int fd, short events, long long deadline) {
    for (;;) {
        int timeout = -1;
        if (deadline) {
            long long left = deadline - now_ms();
            if (left <= 0) return 0;
            timeout = (int)left;
        }
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, timeout);
        if (n > 0) return 1;
        if (n == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* One send or receive on the socket or through TLS: >0 bytes; 0 would block (*want set);
 * -1 failed (message in c->error); -2 closed by the server. */
static long transfer(tnt_client *c, int sending, uint8_t *data, size_t size, short *want) {
    if (c->tls) {
        return sending ? tnt_tls_send(c->tls, data, size, want, c->error, sizeof c->error)
                       : tnt_tls_recv(c->tls, data, size, want, c->error, sizeof c->error);
    }
    ssize_t n = sending ? send(c->fd, data, size, MSG_NOSIGNAL) : recv(c->fd, data, size, 0);
    if (n > 0) return n;
    if (n == 0) return -2;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        *want = sending ? POLLOUT : POLLIN;
        return 0;
    }
    fail(c, TNT_UNAVAILABLE, "%s", strerror(errno));
    return -1;
}

/* Moves all `size` bytes, waiting for the socket when it would block (TLS may need to read
 * to write, and holds bytes already read: it is asked before the socket is polled). */
static int transfer_all(tnt_client *c, int sending, uint8_t *data, size_t size, long long deadline) {
    while (size > 0) {
        short want = 0;
        long n = transfer(c, sending, data, size, &want);
        if (n > 0) {
            data += n;
            size -= (size_t)n;
            continue;
        }
        if (n == -2) return fail(c, TNT_UNAVAILABLE, "connection closed by the server");
        if (n < 0) return fail(c, TNT_UNAVAILABLE, "connection lost while %s: %.400s", sending ? "sending" : "reading", c->error);
        int ready = wait_ready(c->fd, want, deadline);
        if (ready == 0) {
            return sending ? fail(c, TNT_DEADLINE_EXCEEDED, "timed out sending")
                           : fail(c, TNT_DEADLINE_EXCEEDED, "no answer within %d ms", c->params.timeout_ms);
        }
        if (ready < 0) return fail(c, TNT_UNAVAILABLE, "poll: %s", strerror(errno));
    }
    return TNT_OK;
}

static int write_all(tnt_client *c, const uint8_t *data, size_t size, long long deadline) {
    return transfer_all(c, 1, (uint8_t *)data, size, deadline);
}

static int read_all(tnt_client *c, uint8_t *data, size_t size, long long deadline) {
    return transfer_all(c, 0, data, size, deadline);
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int write_frame(tnt_client *c, uint8_t type, uint32_t stream, const uint8_t *payload, size_t size, long long deadline) {
    uint8_t header[HEADER_SIZE] = {0};
    put32(header, (uint32_t)size);
    header[4] = type;
    put32(header + 8, stream);
    int status = write_all(c, header, HEADER_SIZE, deadline);
    return status != TNT_OK ? status : write_all(c, payload, size, deadline);
}

/* Connects to the address after the one used last (every address of the name in turn, so
 * that reconnections spread over a name's servers), then TLS and the preface exchange. */
static int open_connection(tnt_client *c) {
    long long deadline = c->params.timeout_ms ? now_ms() + c->params.timeout_ms : 0;
    const char *host = c->host;
    int port = c->port;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {0}, *addresses = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, service, &hints, &addresses);
    if (rc != 0) return fail(c, TNT_UNAVAILABLE, "cannot resolve %s: %s", host, gai_strerror(rc));
    int count = 0;
    for (struct addrinfo *a = addresses; a; a = a->ai_next) count++;
    int status = fail(c, TNT_UNAVAILABLE, "cannot connect to %s:%d", host, port);
    for (int tried = 0; tried < count && c->fd < 0; tried++) {
        int index = (c->next_address + tried) % count;
        struct addrinfo *a = addresses;
        for (int i = 0; i < index; i++) a = a->ai_next;
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            status = fail(c, TNT_UNAVAILABLE, "cannot connect to %s:%d: %s", host, port, strerror(errno));
            close(fd);
            continue;
        }
        int error = 0;
        socklen_t length = sizeof error;
        if (wait_ready(fd, POLLOUT, deadline) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0 || error) {
            status = fail(c, TNT_UNAVAILABLE, "cannot connect to %s:%d: %s", host, port, error ? strerror(error) : "timed out");
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->next_address = index + 1;
    }
    freeaddrinfo(addresses);
    if (c->fd < 0) return status;
    c->goaway = 0;
    c->next_stream = 1;
    if (c->params.tls || c->params.tls_ca_file || c->params.tls_cert_file) {
        char reason[400];
        c->tls = tnt_tls_connect(c->fd, &c->params, host, deadline, wait_ready, reason, sizeof reason);
        if (!c->tls) return fail(c, TNT_UNAVAILABLE, "cannot connect to %s:%d: %s", host, port, reason);
    }

    uint8_t preface[8];
    status = write_all(c, PREFACE, sizeof PREFACE, deadline);
    /* Under mutual TLS 1.3 a refused client certificate shows here, at the first read. */
    if (status == TNT_OK) status = read_all(c, preface, sizeof preface, deadline);
    if (status != TNT_OK) {
        if (c->tls) return fail(c, status, "cannot connect to %s:%d: %.400s", host, port, c->error);
        return status;
    }
    if (memcmp(preface, PREFACE, sizeof preface) != 0) return fail(c, TNT_UNAVAILABLE, "%s:%d is not a TNTServe server", host, port);
    c->error[0] = 0;
    return TNT_OK;
}

static void close_connection(tnt_client *c) {
    tnt_tls_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

int tnt_client_connect(const char *host, int port, const tnt_client_params *params, tnt_client **out) {
    tnt_client *c = calloc(1, sizeof *c);
    *out = c;
    if (!c) return TNT_INTERNAL;
    c->fd = -1;
    c->params = params ? *params : tnt_client_default_params();
    if (!host || strlen(host) >= sizeof c->host) return fail(c, TNT_INVALID_ARGUMENT, "bad host");
    strcpy(c->host, host);
    c->port = port;
    return open_connection(c);
}

enum { CONTROL_FRAME_MAX = 4096 };

/* One frame of at most CONTROL_FRAME_MAX bytes (a GOAWAY, a PING) by `deadline`: 1 when read. */
static int read_control_frame(tnt_client *c, uint8_t *type, uint8_t *body, uint32_t *length, long long deadline) {
    uint8_t header[HEADER_SIZE];
    if (read_all(c, header, HEADER_SIZE, deadline) != TNT_OK || get32(header) > CONTROL_FRAME_MAX) return 0;
    *type = header[4];
    *length = get32(header);
    return read_all(c, body, *length, deadline) == TNT_OK;
}

/* Reads what the server sent while the connection was idle (a GOAWAY from a draining or
 * aged-out server, a PING, its close), so that a call is not sent on a connection that
 * cannot take it. */
static void catch_up(tnt_client *c) {
    for (;;) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (!tnt_tls_pending(c->tls) && poll(&p, 1, 0) <= 0) return;
        uint8_t type, body[CONTROL_FRAME_MAX];
        uint32_t length;
        long long soon = now_ms() + 1000;
        if (!read_control_frame(c, &type, body, &length, soon)) { c->goaway = 1; return; }
        if (type == FRAME_GOAWAY) c->goaway = 1;
        if (type == FRAME_PING && write_frame(c, FRAME_PONG, 0, body, length, soon) != TNT_OK) { c->goaway = 1; return; }
    }
}

/* The connection failed while sending: a server that closes it says why in a GOAWAY first
 * (a plaintext client on a TLS port, a server shutting down). Reads it if it is there. */
static int goaway_reason(tnt_client *c) {
    char lost[sizeof c->error];
    memcpy(lost, c->error, sizeof lost);
    uint8_t type, body[CONTROL_FRAME_MAX];
    uint32_t length;
    if (read_control_frame(c, &type, body, &length, now_ms() + 200) && type == FRAME_GOAWAY) {
        Tnt__V1__GoAway *goaway = tnt__v1__go_away__unpack(NULL, length, body);
        if (goaway) {
            fail(c, TNT_UNAVAILABLE, "not processed: server sent GOAWAY: %.400s", goaway->message);
            tnt__v1__go_away__free_unpacked(goaway, NULL);
            return TNT_UNAVAILABLE;
        }
    }
    return fail(c, TNT_UNAVAILABLE, "%s", lost);
}

/* One attempt on the current connection; *not_processed is set when the server did not
 * process the call (a GOAWAY that excludes it, a connection closed before it was sent). */
static int call_once(tnt_client *c, const char *method, const uint8_t *request, size_t request_size,
                     uint8_t **payload, size_t *payload_size, long long deadline, int *not_processed) {
    *payload = NULL;
    *payload_size = 0;
    *not_processed = 0;

    Tnt__V1__RequestEnvelope envelope;
    tnt__v1__request_envelope__init(&envelope);
    envelope.method = (char *)method;
    envelope.timeout_us = (uint64_t)c->params.timeout_ms * 1000;
    envelope.payload.data = (uint8_t *)request;
    envelope.payload.len = request_size;
    char bearer[600];
    Tnt__V1__MetadataEntry authorization;
    Tnt__V1__MetadataEntry *metadata[1] = {&authorization};
    if (c->params.token) {
        if (snprintf(bearer, sizeof bearer, "Bearer %s", c->params.token) >= (int)sizeof bearer) {
            return fail(c, TNT_INVALID_ARGUMENT, "token longer than %zu bytes", sizeof bearer - 8);
        }
        tnt__v1__metadata_entry__init(&authorization);
        authorization.key = "authorization";
        authorization.value = bearer;
        envelope.n_metadata = 1;
        envelope.metadata = metadata;
    }
    size_t size = tnt__v1__request_envelope__get_packed_size(&envelope);
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame) return fail(c, TNT_INTERNAL, "out of memory");
    tnt__v1__request_envelope__pack(&envelope, frame);
    uint32_t stream = c->next_stream++;
    int status = write_frame(c, FRAME_REQUEST, stream, frame, size, deadline);
    free(frame);
    if (status == TNT_UNAVAILABLE) {
        *not_processed = 1;
        return goaway_reason(c);
    }
    if (status != TNT_OK) return status;

    for (;;) {
        uint8_t header[HEADER_SIZE];
        status = read_all(c, header, HEADER_SIZE, deadline);
        if (status != TNT_OK) return status;
        uint32_t length = get32(header);
        uint8_t type = header[4];
        uint32_t id = get32(header + 8);
        if (length > c->params.max_frame_size) return fail(c, TNT_INTERNAL, "answer of %u bytes above the limit", length);
        uint8_t *body = malloc(length ? length : 1);
        if (!body) return fail(c, TNT_INTERNAL, "out of memory");
        status = read_all(c, body, length, deadline);
        if (status != TNT_OK) { free(body); return status; }
        if (type == FRAME_PING) {
            status = write_frame(c, FRAME_PONG, 0, body, length, deadline);
            free(body);
            if (status != TNT_OK) return status;
            continue;
        }
        if (type == FRAME_GOAWAY) {
            Tnt__V1__GoAway *goaway = tnt__v1__go_away__unpack(NULL, length, body);
            free(body);
            int refused = goaway && goaway->last_stream_id < stream;
            c->goaway = 1;
            if (goaway) {
                fail(c, TNT_UNAVAILABLE, "not processed: server sent GOAWAY: %s", goaway->message);
                tnt__v1__go_away__free_unpacked(goaway, NULL);
            }
            *not_processed = refused;
            if (refused || !goaway) return TNT_UNAVAILABLE;
            continue;  /* our call was accepted: its answer still comes */
        }
        if (type != FRAME_RESPONSE || id != stream) { free(body); continue; }
        Tnt__V1__ResponseEnvelope *response = tnt__v1__response_envelope__unpack(NULL, length, body);
        free(body);
        if (!response) return fail(c, TNT_INTERNAL, "malformed answer from the server");
        status = (int)response->status;
        if (status == TNT_UNAVAILABLE) {
            /* Refused before any work (a draining server, a full queue): another may take it. */
            *not_processed = 1;
            c->goaway = 1;
        }
        if (status != TNT_OK) {
            fail(c, status, "%s", response->message ? response->message : "");
        } else {
            *payload = malloc(response->payload.len ? response->payload.len : 1);
            if (*payload) {
                memcpy(*payload, response->payload.data, response->payload.len);
                *payload_size = response->payload.len;
            } else {
                status = fail(c, TNT_INTERNAL, "out of memory");
            }
        }
        tnt__v1__response_envelope__free_unpacked(response, NULL);
        return status;
    }
}

/* One call: sends `request` (packed method message) and fills *payload with the OK answer's
 * message (caller frees), or returns the error status. A connection the server sent GOAWAY
 * on, or closed, is replaced first (by the name's next address); a call it did not process
 * is sent again on a new connection, up to 5 attempts within the timeout. */
static int call(tnt_client *c, const char *method, const uint8_t *request, size_t request_size,
                uint8_t **payload, size_t *payload_size) {
    if (!c) return TNT_INVALID_ARGUMENT;
    long long deadline = c->params.timeout_ms ? now_ms() + c->params.timeout_ms : 0;
    int status = TNT_UNAVAILABLE;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (deadline && now_ms() >= deadline) {
            return fail(c, TNT_DEADLINE_EXCEEDED, "deadline exceeded after %d attempts: %.400s", attempt, c->error);
        }
        if (c->fd >= 0) catch_up(c);
        if (c->fd < 0 || c->goaway) {
            close_connection(c);
            status = open_connection(c);
            if (status != TNT_OK) {
                struct timespec pause = {0, 50000000L << (attempt < 4 ? attempt : 4)};
                nanosleep(&pause, NULL);
                continue;
            }
        }
        int not_processed = 0;
        status = call_once(c, method, request, request_size, payload, payload_size, deadline, &not_processed);
        if (!(status == TNT_UNAVAILABLE && not_processed)) return status;
        close_connection(c);
    }
    return status;
}

int tnt_client_predict(tnt_client *client, const char *model, const uint8_t *image, size_t image_size,
                       int top_k, tnt_classification *result) {
    if (!client || !image || !result || top_k < 0) return client ? fail(client, TNT_INVALID_ARGUMENT, "bad arguments") : TNT_INVALID_ARGUMENT;
    memset(result, 0, sizeof *result);
    Tnt__V1__Input input;
    tnt__v1__input__init(&input);
    input.kind_case = TNT__V1__INPUT__KIND_ENCODED_IMAGE;
    input.encoded_image.data = (uint8_t *)image;
    input.encoded_image.len = image_size;
    Tnt__V1__Input *inputs[1] = {&input};
    Tnt__V1__PredictRequest request;
    tnt__v1__predict_request__init(&request);
    request.model = (char *)(model ? model : "");
    request.n_inputs = 1;
    request.inputs = inputs;
    request.top_k = (uint32_t)top_k;
    size_t size = tnt__v1__predict_request__get_packed_size(&request);
    uint8_t *packed = malloc(size ? size : 1);
    if (!packed) return fail(client, TNT_INTERNAL, "out of memory");
    tnt__v1__predict_request__pack(&request, packed);
    uint8_t *payload;
    size_t payload_size;
    int status = call(client, "/tnt.v1.Classifier/Predict", packed, size, &payload, &payload_size);
    free(packed);
    if (status != TNT_OK) return status;

    Tnt__V1__PredictResponse *response = tnt__v1__predict_response__unpack(NULL, payload_size, payload);
    free(payload);
    if (!response || response->n_results != 1) {
        if (response) tnt__v1__predict_response__free_unpacked(response, NULL);
        return fail(client, TNT_INTERNAL, "malformed PredictResponse");
    }
    Tnt__V1__Classification *r = response->results[0];
    size_t n = r->n_class_ids < r->n_scores ? r->n_class_ids : r->n_scores;
    result->count = n;
    result->class_ids = calloc(n ? n : 1, sizeof *result->class_ids);
    result->scores = calloc(n ? n : 1, sizeof *result->scores);
    if (r->n_label_names >= n && n > 0) result->label_names = calloc(n, sizeof *result->label_names);
    for (size_t i = 0; i < n && result->class_ids && result->scores; i++) {
        result->class_ids[i] = r->class_ids[i];
        result->scores[i] = r->scores[i];
        if (result->label_names) result->label_names[i] = strdup(r->label_names[i]);
    }
    tnt__v1__predict_response__free_unpacked(response, NULL);
    if (!result->class_ids || !result->scores) {
        tnt_classification_free(result);
        return fail(client, TNT_INTERNAL, "out of memory");
    }
    return TNT_OK;
}

int tnt_client_health(tnt_client *client, const char *service, int *serving) {
    if (!client || !serving) return client ? fail(client, TNT_INVALID_ARGUMENT, "bad arguments") : TNT_INVALID_ARGUMENT;
    *serving = 0;
    Tnt__V1__HealthCheckRequest request;
    tnt__v1__health_check_request__init(&request);
    request.service = (char *)(service ? service : "");
    size_t size = tnt__v1__health_check_request__get_packed_size(&request);
    uint8_t packed[512];
    if (size > sizeof packed) return fail(client, TNT_INVALID_ARGUMENT, "service name too long");
    tnt__v1__health_check_request__pack(&request, packed);
    uint8_t *payload;
    size_t payload_size;
    int status = call(client, "/tnt.v1.Health/Check", packed, size, &payload, &payload_size);
    if (status != TNT_OK) return status;
    Tnt__V1__HealthCheckResponse *response = tnt__v1__health_check_response__unpack(NULL, payload_size, payload);
    free(payload);
    if (!response) return fail(client, TNT_INTERNAL, "malformed HealthCheckResponse");
    *serving = response->status == TNT__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    tnt__v1__health_check_response__free_unpacked(response, NULL);
    return TNT_OK;
}

void tnt_classification_free(tnt_classification *result) {
    if (!result) return;
    if (result->label_names) {
        for (size_t i = 0; i < result->count; i++) free(result->label_names[i]);
    }
    free(result->label_names);
    free(result->class_ids);
    free(result->scores);
    memset(result, 0, sizeof *result);
}

void tnt_client_close(tnt_client *client) {
    if (!client) return;
    close_connection(client);
    free(client);
}
