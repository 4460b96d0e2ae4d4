/*
 * testserver.c — spawn tests/helpers/testserver.py and talk to it.
 *
 * The server runs as a child with pipes on stdin and stdout. Its first
 * stdout line is "PORT <n>"; we wait for it with poll() (bounded, so a
 * broken python fails the test instead of hanging it). Closing our end of
 * its stdin makes it exit, so it never outlives the test even if the test
 * crashes. Control calls use libcurl (TLS-capable, verification off: it is
 * our own loopback server).
 */
#include "testserver.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define START_TIMEOUT_MS 15000

#ifndef TB_TEST_SERVER_PY
#error "TB_TEST_SERVER_PY (the path of tests/helpers/testserver.py) is set by tests/CMakeLists.txt"
#endif

typedef struct membuf {
    char *data;
    size_t len, cap;
} membuf;

/* Doubling growth: a load test's request log is tens of MB, and growing
 * by each 16 KB chunk is quadratic (slow enough under ASan to time out). */
static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    membuf *m = userdata;
    size_t n = size * nmemb;
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + n + 1)
            cap *= 2;
        char *p = realloc(m->data, cap);
        if (!p)
            return 0;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, ptr, n);
    m->len += n;
    m->data[m->len] = '\0';
    return n;
}

/* GET (post == NULL) or POST to s->url + path; the body is returned in *out
 * when out is non-NULL. Returns the HTTP status, -1 on transport failure. */
static long call(tb_test_server *s, const char *path, const char *post, char **out)
{
    char url[160];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    membuf m = {NULL, 0, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* bounded, and long enough for a large request log on a busy machine */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 300000L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(post));
    }
    long status = -1;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "testserver: %s: %s\n", url, curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    if (out && status >= 0 && !m.data) {
        m.data = calloc(1, 1);
    }
    if (out && status >= 0)
        *out = m.data;
    else
        free(m.data);
    return status;
}

static int read_port(tb_test_server *s)
{
    char line[128];
    size_t len = 0;
    for (;;) {
        struct pollfd pfd = {.fd = s->stdout_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, START_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            fprintf(stderr, "testserver: no PORT line within %d ms\n", START_TIMEOUT_MS);
            return -1;
        }
        ssize_t n = read(s->stdout_fd, line + len, sizeof line - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "testserver: server exited before printing its port\n");
            return -1;
        }
        len += (size_t)n;
        line[len] = '\0';
        char *nl = strchr(line, '\n');
        if (nl) {
            char *end = NULL;
            long port = (strncmp(line, "PORT ", 5) == 0) ? strtol(line + 5, &end, 10) : -1;
            if (port <= 0 || port > 65535 || end != nl) {
                fprintf(stderr, "testserver: unexpected first line: %s", line);
                return -1;
            }
            s->port = (int)port;
            return 0;
        }
        if (len == sizeof line - 1) {
            fprintf(stderr, "testserver: first line too long\n");
            return -1;
        }
    }
}

static int cloexec_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static int start(tb_test_server *s, const char *cert, const char *key, const char *client_ca)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->stdin_fd = s->stdout_fd = -1;
    const char *script = TB_TEST_SERVER_PY;
    /* loopback traffic must never go through a proxy from the environment
     * (the library's, the CLI children's and our own control calls) */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    curl_global_init(CURL_GLOBAL_ALL);
    fflush(stdout);
    fflush(stderr);

    int in[2], out[2];
    if (cloexec_pipe(in) != 0)
        return -1;
    if (cloexec_pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pid == 0) {
        /* dup2 clears O_CLOEXEC on the new descriptors */
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(127);
        if (cert && client_ca)
            execlp("python3", "python3", "-u", script, "--tls", cert, key, client_ca, (char *)NULL);
        else if (cert)
            execlp("python3", "python3", "-u", script, "--tls", cert, key, (char *)NULL);
        else
            execlp("python3", "python3", "-u", script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->stdin_fd = in[1];
    s->stdout_fd = out[0];
    s->tls = cert != NULL;
    if (read_port(s) != 0) {
        tb_test_server_stop(s);
        return -1;
    }
    snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", cert ? "https" : "http", s->port);
    return 0;
}

int tb_test_server_start(tb_test_server *s)
{
    return start(s, NULL, NULL, NULL);
}

int tb_test_server_start_tls(tb_test_server *s, const char *cert, const char *key)
{
    return start(s, cert, key, NULL);
}

int tb_test_server_start_mtls(tb_test_server *s, const char *cert, const char *key,
                              const char *client_ca)
{
    return start(s, cert, key, client_ca);
}

int tb_test_server_control(tb_test_server *s, const char *json)
{
    return call(s, "/_control", json, NULL) == 200 ? 0 : -1;
}

int tb_test_server_reset(tb_test_server *s)
{
    return call(s, "/_reset", "", NULL) == 200 ? 0 : -1;
}

char *tb_test_server_requests(tb_test_server *s)
{
    char *body = NULL;
    if (call(s, "/_requests", NULL, &body) != 200) {
        free(body);
        return NULL;
    }
    return body;
}

/* The integer after "key": in a flat JSON object; false when absent. */
static bool json_int(const char *body, const char *key, long long *out)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = body ? strstr(body, pat) : NULL;
    if (!p)
        return false;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    char *end = NULL;
    *out = strtoll(p, &end, 10);
    return end != p;
}

long tb_test_server_count(tb_test_server *s)
{
    char *body = NULL;
    long long n = -1;
    if (call(s, "/_count", NULL, &body) != 200 || !json_int(body, "count", &n))
        n = -1;
    free(body);
    return (long)n;
}

int tb_test_server_stats(tb_test_server *s, long long *requests, long long *body_bytes,
                         long long *cpu_ns)
{
    char *body = NULL;
    int rc = call(s, "/_stats", NULL, &body) == 200 && json_int(body, "requests", requests) &&
                     json_int(body, "body_bytes", body_bytes) && json_int(body, "cpu_ns", cpu_ns)
                 ? 0
                 : -1;
    free(body);
    return rc;
}

void tb_test_server_stop(tb_test_server *s)
{
    if (s->stdin_fd >= 0) {
        close(s->stdin_fd);
        s->stdin_fd = -1;
    }
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status;
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
        }
        s->pid = -1;
    }
    if (s->stdout_fd >= 0) {
        close(s->stdout_fd);
        s->stdout_fd = -1;
    }
}

int tb_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}
