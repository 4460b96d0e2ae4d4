/*
 * demo_server.c — the little HTTP collector `tracebox demo --outage` starts
 * on 127.0.0.1: it accepts POSTed JSON arrays (the webhook format), counts
 * the records, and can be taken down (its port closed: connection refused)
 * and brought back on the same port. Demo only; tests use
 * tests/helpers/testserver.py.
 */
#include "demo_server.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void serve_one(demo_server *s, int c)
{
    char *buf = NULL;
    size_t len = 0, cap = 0, need = 0, head = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t n = recv(c, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!head) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            head = (size_t)(end - buf) + 4;
            for (size_t i = 0; i < head; i++)
                buf[i] = (char)tolower((unsigned char)buf[i]);
            char *cl = strstr(buf, "content-length:");
            need = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        }
        if (len - head >= need) {
            cJSON *arr = cJSON_ParseWithLength(buf + head, need);
            pthread_mutex_lock(&s->mu);
            s->received += cJSON_GetArraySize(arr);
            s->requests++;
            pthread_mutex_unlock(&s->mu);
            cJSON_Delete(arr);
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
            (void)!send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
            break;
        }
    }
    free(buf);
    close(c);
}

static void *run(void *arg)
{
    demo_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stopping;
        int fd = s->fd;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (fd < 0 || poll(&p, 1, 50) <= 0) {
            if (fd < 0)
                poll(NULL, 0, 50);
            continue;
        }
        int c = accept(fd, NULL, NULL);
        if (c >= 0)
            serve_one(s, c);
    }
    return NULL;
}

int demo_server_start(demo_server *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fd = listen_on(0);
    if (s->fd < 0)
        return -1;
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        close(s->fd);
        return -1;
    }
    return 0;
}

void demo_server_set_up(demo_server *s, bool up)
{
    pthread_mutex_lock(&s->mu);
    if (!up && s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    } else if (up && s->fd < 0) {
        s->fd = listen_on(s->port);
    }
    pthread_mutex_unlock(&s->mu);
}

long demo_server_received(demo_server *s)
{
    pthread_mutex_lock(&s->mu);
    long n = s->received;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void demo_server_stop(demo_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    if (s->fd >= 0)
        close(s->fd);
    pthread_mutex_destroy(&s->mu);
}
