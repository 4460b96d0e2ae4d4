/* demo_server.h — the loopback collector of `tracebox demo --outage`. */
#ifndef TRACEBOX_DEMO_SERVER_H
#define TRACEBOX_DEMO_SERVER_H
#include <pthread.h>
#include <stdbool.h>

typedef struct demo_server {
    pthread_t thread;
    pthread_mutex_t mu;
    int fd; /* listening socket, -1 while down */
    int port;
    bool stopping;
    long received; /* records received */
    long requests;
} demo_server;

int demo_server_start(demo_server *s);
void demo_server_set_up(demo_server *s, bool up);
long demo_server_received(demo_server *s);
void demo_server_stop(demo_server *s);
#endif
