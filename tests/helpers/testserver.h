/*
 * testserver.h — start and steer tests/helpers/testserver.py, the one
 * loopback HTTP server of the tests and the benchmark, from C. The server
 * binds 127.0.0.1 on a kernel-picked port and dies with its starter (it
 * exits when its stdin closes). See testserver.py for the control JSON
 * ({"mode": "status", "code": 503, ...}) and the faults it can play.
 * Needs no cmocka: tests/bench links it too.
 */
#ifndef TB_TEST_SERVER_H
#define TB_TEST_SERVER_H

#include <sys/types.h>

typedef struct tb_test_server {
    pid_t pid;
    int port;
    char url[64];  /* "http://127.0.0.1:PORT" (https:// with TLS) */
    int stdin_fd;  /* write end of the server's stdin */
    int stdout_fd; /* read end of the server's stdout */
    int tls;
} tb_test_server;

/* Spawn `python3 tests/helpers/testserver.py` (the path is compiled in:
 * TB_TEST_SERVER_PY) and wait for its PORT line. Sets no_proxy/NO_PROXY so
 * that loopback traffic never goes through a proxy from the environment.
 * 0 on success, -1 on failure (with a note on stderr). */
int tb_test_server_start(tb_test_server *s);
/* Same with HTTPS (--tls cert key); s->url starts with https://. */
int tb_test_server_start_tls(tb_test_server *s, const char *cert, const char *key);
/* Same, and the server requires a client certificate signed by client_ca
 * (--tls cert key client_ca). */
int tb_test_server_start_mtls(tb_test_server *s, const char *cert, const char *key,
                              const char *client_ca);
/* POST json to /_control. 0 on success. */
int tb_test_server_control(tb_test_server *s, const char *json);
/* POST /_reset: forget recorded requests, back to mode "ok". 0 on success. */
int tb_test_server_reset(tb_test_server *s);
/* GET /_requests: malloc'd JSON text (free() it), NULL on failure. */
char *tb_test_server_requests(tb_test_server *s);
/* GET /_count: number of recorded requests, -1 on failure. */
long tb_test_server_count(tb_test_server *s);
/* GET /_stats: requests served and their body bytes since the start (or
 * the last reset), recorded or not, and the server process's CPU time in
 * ns. 0 on success. */
int tb_test_server_stats(tb_test_server *s, long long *requests, long long *body_bytes,
                         long long *cpu_ns);
/* Close its stdin, kill it, reap it. Safe to call twice. */
void tb_test_server_stop(tb_test_server *s);

/* A 127.0.0.1 port nothing listens on (bound, then closed). -1 on error. */
int tb_test_free_port(void);

#endif
