/* predict: classify images with a TNTServe server; prints PaddleClas-style JSON, one object
 * per file (class_ids, file_name, label_names, scores).
 *   predict HOST:PORT [--model NAME] [--top-k K] [--timeout-ms MS]
 *           [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]
 *           [--token TOKEN] IMAGE...
 * The token may also come from TNT_TOKEN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_file.h"
#include "tnt_client.h"

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT [--model NAME] [--top-k K] [--timeout-ms MS] [--tls] [--tls-ca FILE]\n"
                        "       [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME] [--token TOKEN] IMAGE...\n", argv[0]);
        return 2;
    }
    char host[256];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host) { fprintf(stderr, "bad endpoint %s\n", argv[1]); return 2; }
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = 0;
    const char *model = "";
    int top_k = 5, first = 2;
    tnt_client_params params = tnt_client_default_params();
    const char *token = getenv("TNT_TOKEN");
    params.token = token && *token ? token : NULL;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (!strcmp(argv[first], "--tls")) { params.tls = 1; first++; continue; }
        if (!strcmp(argv[first], "--model")) model = argv[first + 1];
        else if (!strcmp(argv[first], "--tls-ca")) params.tls_ca_file = argv[first + 1];
        else if (!strcmp(argv[first], "--tls-cert")) params.tls_cert_file = argv[first + 1];
        else if (!strcmp(argv[first], "--tls-key")) params.tls_key_file = argv[first + 1];
        else if (!strcmp(argv[first], "--tls-server-name")) params.tls_server_name = argv[first + 1];
        else if (!strcmp(argv[first], "--token")) params.token = argv[first + 1];
        else if (!strcmp(argv[first], "--top-k")) top_k = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--timeout-ms")) params.timeout_ms = atoi(argv[first + 1]);
        else { fprintf(stderr, "unknown option %s\n", argv[first]); return 2; }
        first += 2;
    }
    tnt_client *client = NULL;
    int status = tnt_client_connect(host, atoi(colon + 1), &params, &client);
    if (status != TNT_OK) {
        fprintf(stderr, "error %d: %s\n", status, tnt_client_last_error(client));
        tnt_client_close(client);
        return 1;
    }
    printf("[");
    for (int i = first; i < argc; i++) {
        size_t size = 0;
        uint8_t *image = read_file(argv[i], &size);
        if (!image) { fprintf(stderr, "cannot read %s\n", argv[i]); status = TNT_INVALID_ARGUMENT; break; }
        tnt_classification result;
        status = tnt_client_predict(client, model, image, size, top_k, &result);
        free(image);
        if (status != TNT_OK) { fprintf(stderr, "error %d: %s\n", status, tnt_client_last_error(client)); break; }
        printf(i > first ? ",{\"class_ids\":[" : "{\"class_ids\":[");
        for (size_t k = 0; k < result.count; k++) printf(k ? ",%d" : "%d", result.class_ids[k]);
        printf("],\"file_name\":");
        print_json_string(argv[i]);
        printf(",\"label_names\":[");
        for (size_t k = 0; result.label_names && k < result.count; k++) {
            if (k) putchar(',');
            print_json_string(result.label_names[k]);
        }
        printf("],\"scores\":[");
        for (size_t k = 0; k < result.count; k++) printf(k ? ",%.9g" : "%.9g", result.scores[k]);
        printf("]}");
        tnt_classification_free(&result);
    }
    printf("]\n");
    tnt_client_close(client);
    return status == TNT_OK ? 0 : 1;
}
