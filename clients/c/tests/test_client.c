/* Checks tnt_client against live servers (started by clients/c/test_c_client.py):
 *   test_client HOST PORT SLOW_PORT IMAGE
 * SLOW_PORT is a server whose batches wait 2 s, so a 100 ms deadline expires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/read_file.h"
#include "tnt_client.h"

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s HOST PORT SLOW_PORT IMAGE\n", argv[0]); return 2; }
    const char *host = argv[1];
    size_t size = 0;
    uint8_t *image = read_file(argv[4], &size);
    CHECK(image != NULL, "cannot read %s", argv[4]);

    tnt_client_params params = tnt_client_default_params();
    params.timeout_ms = 10000;
    tnt_client *client = NULL;
    int status = tnt_client_connect(host, atoi(argv[2]), &params, &client);
    CHECK(status == TNT_OK, "connect: %d %s", status, tnt_client_last_error(client));

    int serving = 0;
    status = tnt_client_health(client, "", &serving);
    CHECK(status == TNT_OK && serving == 1, "health: %d serving=%d", status, serving);
    status = tnt_client_health(client, "nope", &serving);
    CHECK(status == TNT_NOT_FOUND, "health of an unknown model: %d", status);

    tnt_classification result;
    status = tnt_client_predict(client, "tiny", image, size, 3, &result);
    CHECK(status == TNT_OK, "predict: %d %s", status, tnt_client_last_error(client));
    if (status == TNT_OK) {
        CHECK(result.count == 3, "count %zu", result.count);
        CHECK(result.scores[0] >= result.scores[1] && result.scores[1] >= result.scores[2], "scores not sorted");
        CHECK(result.label_names && strncmp(result.label_names[0], "digit ", 6) == 0, "label names");
        tnt_classification_free(&result);
    }
    const uint8_t garbage[] = "not an image";
    status = tnt_client_predict(client, "", garbage, sizeof garbage, 5, &result);
    CHECK(status == TNT_INVALID_ARGUMENT, "bad image: %d", status);
    CHECK(strstr(tnt_client_last_error(client), "not a PNG or JPEG") != NULL, "message: %s", tnt_client_last_error(client));
    status = tnt_client_predict(client, "nope", image, size, 5, &result);
    CHECK(status == TNT_NOT_FOUND, "unknown model: %d", status);
    /* Still usable after errors. */
    status = tnt_client_predict(client, "", image, size, 5, &result);
    CHECK(status == TNT_OK, "predict after errors: %d", status);
    if (status == TNT_OK) tnt_classification_free(&result);
    tnt_client_close(client);

    /* An expired deadline. */
    params.timeout_ms = 100;
    status = tnt_client_connect(host, atoi(argv[3]), &params, &client);
    CHECK(status == TNT_OK, "connect to the slow server: %d", status);
    status = tnt_client_predict(client, "", image, size, 5, &result);
    CHECK(status == TNT_DEADLINE_EXCEEDED, "expired deadline: %d %s", status, tnt_client_last_error(client));
    tnt_client_close(client);

    /* Nothing listens on port 1. */
    params.timeout_ms = 2000;
    status = tnt_client_connect(host, 1, &params, &client);
    CHECK(status == TNT_UNAVAILABLE, "unreachable: %d", status);
    tnt_client_close(client);

    free(image);
    printf("%d passed, %d failed\n", failures ? 0 : 1, failures);
    return failures ? 1 : 0;
}
