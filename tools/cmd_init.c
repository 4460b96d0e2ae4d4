/* cmd_init.c — `tracebox init`: create or migrate the outbox file. */
#include "cli.h"

int cmd_init(cli *c)
{
    if (c->argc > 0)
        return cli_fail(EXIT_USAGE, "init: unexpected argument '%s' (usage: tracebox init)",
                        c->argv[0]);
    tb_outbox *ob = cli_open(c);
    if (!ob)
        return EXIT_ERR;
    printf("outbox ready: %s\n", tb_outbox_path(ob));
    tb_outbox_close(ob);
    return EXIT_OK;
}
