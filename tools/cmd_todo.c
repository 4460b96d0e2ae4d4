/* temporary: verbs being written this session */
#include "cli.h"
int cmd_ship(cli *c) { (void)c; return cli_fail(EXIT_ERR, "ship: not built yet"); }
int cmd_status(cli *c) { (void)c; return cli_fail(EXIT_ERR, "status: not built yet"); }
int cmd_dead(cli *c) { (void)c; return cli_fail(EXIT_ERR, "dead: not built yet"); }
int cmd_requeue(cli *c) { (void)c; return cli_fail(EXIT_ERR, "requeue: not built yet"); }
int cmd_show(cli *c) { (void)c; return cli_fail(EXIT_ERR, "show: not built yet"); }
int cmd_purge(cli *c) { (void)c; return cli_fail(EXIT_ERR, "purge: not built yet"); }
int cmd_demo(cli *c) { (void)c; return cli_fail(EXIT_ERR, "demo: not built yet"); }
