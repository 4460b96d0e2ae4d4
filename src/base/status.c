/* status.c — tb_status_str() from the one X-macro list in status.h. */
#include "internal.h"

const char *tb_status_str(tb_status status)
{
    switch (status) {
#define TB__STATUS_CASE(name, value, text)                                                         \
    case TB_##name:                                                                                \
        return text;
        TB_STATUS_MAP(TB__STATUS_CASE)
#undef TB__STATUS_CASE
    }
    return "unknown status";
}
