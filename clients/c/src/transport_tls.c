/* TLS for the C client through OpenSSL (Debian's libssl-dev), on the non-blocking socket. */
#define _POSIX_C_SOURCE 200809L
#include "transport.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TNT_CLIENT_TLS

tnt_tls *tnt_tls_connect(int fd, const tnt_client_params *params, const char *host, long long deadline,
                         tnt_wait_fn wait, char *error, size_t error_size) {
    (void)fd; (void)params; (void)host; (void)deadline; (void)wait;
    snprintf(error, error_size, "this C client was built without TLS (install libssl-dev and rebuild)");
    return NULL;
}
long tnt_tls_send(tnt_tls *tls, const uint8_t *data, size_t size, short *want, char *error, size_t error_size) {
    (void)tls; (void)data; (void)size; (void)want;
    snprintf(error, error_size, "built without TLS");
    return -1;
}
long tnt_tls_recv(tnt_tls *tls, uint8_t *data, size_t size, short *want, char *error, size_t error_size) {
    return tnt_tls_send(tls, data, size, want, error, error_size);
}
void tnt_tls_free(tnt_tls *tls) { (void)tls; }
int tnt_tls_pending(const tnt_tls *tls) { (void)tls; return 0; }

#else

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tnt_tls {
    SSL_CTX *context;
    SSL *ssl;
};

void tnt_tls_free(tnt_tls *tls) {
    if (!tls) return;
    if (tls->ssl) SSL_free(tls->ssl);
    if (tls->context) SSL_CTX_free(tls->context);
    free(tls);
}

/* OpenSSL's reason for the last failure, in words a person can act on. */
static void explain(tnt_tls *tls, char *error, size_t error_size, const char *during) {
    long verified = tls && tls->ssl ? SSL_get_verify_result(tls->ssl) : X509_V_OK;
    unsigned long code = ERR_peek_last_error();
    int reason = ERR_GET_REASON(code);
    const char *text = code ? ERR_reason_error_string(code) : NULL;
    ERR_clear_error();
    if (verified != X509_V_OK) {
        int untrusted = verified == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || verified == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
                        || verified == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || verified == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
        snprintf(error, error_size, "the server's certificate failed verification: %s",
                 untrusted ? "it is not signed by a CA this client trusts (tls_ca_file)" : X509_verify_cert_error_string(verified));
    } else if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED) {
        snprintf(error, error_size, "the server requires a client certificate (mutual TLS) and none was sent");
    } else if (reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED) {
        snprintf(error, error_size, "the server refused this client's certificate: it has expired");
    } else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA) {
        snprintf(error, error_size, "the server refused this client's certificate: it is not signed by a CA the server trusts");
    } else if (reason == SSL_R_WRONG_VERSION_NUMBER) {
        snprintf(error, error_size, "the server does not speak TLS on this port (a plaintext endpoint?)");
    } else {
        snprintf(error, error_size, "TLS failed %s: %s", during, text ? text : "the server closed the connection");
    }
}

tnt_tls *tnt_tls_connect(int fd, const tnt_client_params *params, const char *host, long long deadline,
                         tnt_wait_fn wait, char *error, size_t error_size) {
    tnt_tls *tls = calloc(1, sizeof *tls);
    if (!tls) { snprintf(error, error_size, "out of memory"); return NULL; }
    const char *name = params->tls_server_name ? params->tls_server_name : host;
    tls->context = SSL_CTX_new(TLS_client_method());
    if (!tls->context || !SSL_CTX_set_min_proto_version(tls->context, TLS1_2_VERSION)) goto openssl_failed;
    SSL_CTX_set_verify(tls->context, SSL_VERIFY_PEER, NULL);
    if (params->tls_ca_file ? !SSL_CTX_load_verify_locations(tls->context, params->tls_ca_file, NULL)
                            : !SSL_CTX_set_default_verify_paths(tls->context)) {
        snprintf(error, error_size, "cannot load the CA file '%s'", params->tls_ca_file ? params->tls_ca_file : "(system)");
        goto failed;
    }
    if (params->tls_cert_file || params->tls_key_file) {
        if (!params->tls_cert_file || !params->tls_key_file) {
            snprintf(error, error_size, "a client certificate needs both tls_cert_file and tls_key_file");
            goto failed;
        }
        if (!SSL_CTX_use_certificate_chain_file(tls->context, params->tls_cert_file)
            || !SSL_CTX_use_PrivateKey_file(tls->context, params->tls_key_file, SSL_FILETYPE_PEM)
            || !SSL_CTX_check_private_key(tls->context)) {
            snprintf(error, error_size, "cannot load the client certificate '%s' with its key '%s'", params->tls_cert_file, params->tls_key_file);
            goto failed;
        }
    }
    tls->ssl = SSL_new(tls->context);
    if (!tls->ssl || !SSL_set_fd(tls->ssl, fd)) goto openssl_failed;
    /* An IP address is checked against the certificate's IP addresses, and sent in no SNI. */
    unsigned char address[16];
    if (inet_pton(AF_INET, name, address) == 1 || inet_pton(AF_INET6, name, address) == 1) {
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl), name)) goto openssl_failed;
    } else if (!SSL_set_tlsext_host_name(tls->ssl, name) || !SSL_set1_host(tls->ssl, name)) {
        goto openssl_failed;
    }
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(tls->ssl);
        if (rc == 1) return tls;
        int why = SSL_get_error(tls->ssl, rc);
        short want = why == SSL_ERROR_WANT_READ ? POLLIN : why == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (!want) { explain(tls, error, error_size, "during the handshake"); goto failed; }
        int ready = wait(fd, want, deadline);
        if (ready == 0) { snprintf(error, error_size, "the TLS handshake timed out"); goto failed; }
        if (ready < 0) { snprintf(error, error_size, "poll failed during the TLS handshake"); goto failed; }
    }
openssl_failed:
    explain(tls, error, error_size, "to set up");
failed:
    tnt_tls_free(tls);
    return NULL;
}

int tnt_tls_pending(const tnt_tls *tls) { return tls && tls->ssl ? SSL_pending(tls->ssl) > 0 : 0; }

static long moved(tnt_tls *tls, int rc, short *want, char *error, size_t error_size) {
    if (rc > 0) return rc;
    int why = SSL_get_error(tls->ssl, rc);
    if (why == SSL_ERROR_WANT_READ) { *want = POLLIN; return 0; }
    if (why == SSL_ERROR_WANT_WRITE) { *want = POLLOUT; return 0; }
    if (why == SSL_ERROR_ZERO_RETURN || (why == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)) return -2;
    explain(tls, error, error_size, "on the connection");
    return -1;
}

long tnt_tls_send(tnt_tls *tls, const uint8_t *data, size_t size, short *want, char *error, size_t error_size) {
    ERR_clear_error();
    return moved(tls, SSL_write(tls->ssl, data, size > 1u << 30 ? 1 << 30 : (int)size), want, error, error_size);
}

long tnt_tls_recv(tnt_tls *tls, uint8_t *data, size_t size, short *want, char *error, size_t error_size) {
    ERR_clear_error();
    return moved(tls, SSL_read(tls->ssl, data, size > 1u << 30 ? 1 << 30 : (int)size), want, error, error_size);
}

#endif
