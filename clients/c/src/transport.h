/* transport.h — the C client's TLS: OpenSSL over the client's non-blocking socket, or, when
 * built without OpenSSL (TNT_CLIENT_TLS undefined), stubs that say so. Internal. */
#ifndef TNT_TRANSPORT_H
#define TNT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tnt_client.h"

typedef struct tnt_tls tnt_tls;

/* Waits until fd is ready for `events` or the deadline (ms since CLOCK_MONOTONIC's epoch, 0 =
 * none) passes: 1 ready, 0 timed out, -1 error. */
typedef int (*tnt_wait_fn)(int fd, short events, long long deadline);

/* The TLS handshake on a connected socket, the server's certificate verified for
 * params->tls_server_name or `host`. NULL on failure, with the reason in error. */
tnt_tls *tnt_tls_connect(int fd, const tnt_client_params *params, const char *host, long long deadline,
                         tnt_wait_fn wait, char *error, size_t error_size);

/* One read or write: >0 bytes moved; 0 would block (*want: POLLIN or POLLOUT to wait for);
 * -1 failed (reason in error); -2 the server closed the connection. */
long tnt_tls_send(tnt_tls *tls, const uint8_t *data, size_t size, short *want, char *error, size_t error_size);
long tnt_tls_recv(tnt_tls *tls, uint8_t *data, size_t size, short *want, char *error, size_t error_size);

/* Whether TLS holds decrypted bytes not read yet (0 for NULL). */
int tnt_tls_pending(const tnt_tls *tls);

void tnt_tls_free(tnt_tls *tls);

#endif
