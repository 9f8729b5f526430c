/*
 * tnt_client.h — a small blocking C client for TNTServe (docs/PROTOCOL.md).
 *
 * Usage:
 *
 *     #include "tnt_client.h"
 *
 *     tnt_client_params params = tnt_client_default_params();
 *     params.timeout_ms = 5000;                       // per call; also sent as the deadline
 *     tnt_client *client = NULL;
 *     int status = tnt_client_connect("127.0.0.1", 50051, &params, &client);
 *     if (status != TNT_OK) { fprintf(stderr, "%s\n", tnt_client_last_error(client)); ... }
 *
 *     tnt_classification result;
 *     status = tnt_client_predict(client, "", jpeg_bytes, jpeg_size, 5, &result);
 *     if (status == TNT_OK) {
 *         for (size_t i = 0; i < result.count; i++)
 *             printf("%d %f %s\n", result.class_ids[i], result.scores[i],
 *                    result.label_names ? result.label_names[i] : "");
 *         tnt_classification_free(&result);
 *     } else {
 *         // status is gRPC's code: 3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND, 14 UNAVAILABLE, ...
 *         fprintf(stderr, "error %d: %s\n", status, tnt_client_last_error(client));
 *     }
 *     tnt_client_close(client);
 *
 * Return codes: every function returning int returns a gRPC status code: TNT_OK (0) on
 * success, the server's code when it answered an error, and for failures on this side
 * TNT_UNAVAILABLE (cannot connect, connection lost, GOAWAY), TNT_DEADLINE_EXCEEDED (no answer
 * within the timeout), TNT_INVALID_ARGUMENT (bad arguments), TNT_INTERNAL (out of memory,
 * malformed answer).
 *
 * Thread safety: a tnt_client is one connection and must not be used by two threads at once;
 * give each thread its own client (or serialise calls with a mutex). Different clients are
 * independent. tnt_client_last_error belongs to the client and is overwritten by its next call.
 */
#ifndef TNT_CLIENT_H
#define TNT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TNT_OK = 0,
    TNT_CANCELLED = 1,
    TNT_INVALID_ARGUMENT = 3,
    TNT_DEADLINE_EXCEEDED = 4,
    TNT_NOT_FOUND = 5,
    TNT_PERMISSION_DENIED = 7,
    TNT_RESOURCE_EXHAUSTED = 8,
    TNT_FAILED_PRECONDITION = 9,
    TNT_UNIMPLEMENTED = 12,
    TNT_INTERNAL = 13,
    TNT_UNAVAILABLE = 14,
    TNT_UNAUTHENTICATED = 16,
};

typedef struct tnt_client tnt_client;

typedef struct {
    int timeout_ms;          /* connect and per-call timeout; 0 = wait forever (default 30000) */
    uint32_t max_frame_size; /* largest answer accepted (default 16 MiB) */
    /* TLS (docs/SECURITY.md), when the library is built with OpenSSL (libssl-dev present);
     * without it, asking for TLS fails with TNT_UNAVAILABLE and a message saying so. */
    int tls;                     /* 1: TLS; implied by tls_ca_file or tls_cert_file */
    const char *tls_ca_file;     /* PEM CAs the server's certificate must be signed by; NULL: the system's */
    const char *tls_cert_file;   /* PEM client certificate chain, for mutual TLS */
    const char *tls_key_file;    /* PEM key of tls_cert_file */
    const char *tls_server_name; /* the name the server's certificate must carry; NULL: host */
    const char *token;           /* sent with every call as "authorization: Bearer <token>" */
} tnt_client_params;

/* One input's result. */
typedef struct {
    size_t count;         /* classes returned */
    int32_t *class_ids;   /* count ids, most probable first */
    float *scores;        /* count softmax probabilities */
    char **label_names;   /* count names, or NULL when the model has no labels */
} tnt_classification;

tnt_client_params tnt_client_default_params(void);

/* Connects and exchanges the preface. On failure *out may still hold a client whose
 * tnt_client_last_error explains; close it either way. */
int tnt_client_connect(const char *host, int port, const tnt_client_params *params, tnt_client **out);

/* Classifies one encoded PNG or JPEG image with `model` ("" = the server's default). */
int tnt_client_predict(tnt_client *client, const char *model, const uint8_t *image, size_t image_size,
                       int top_k, tnt_classification *result);

/* grpc.health.v1: service "" is the server. *serving is set to 1 when SERVING, else 0. */
int tnt_client_health(tnt_client *client, const char *service, int *serving);

/* The message of the last failure on this client (never NULL). */
const char *tnt_client_last_error(const tnt_client *client);

void tnt_classification_free(tnt_classification *result);
void tnt_client_close(tnt_client *client);

#ifdef __cplusplus
}
#endif

#endif
