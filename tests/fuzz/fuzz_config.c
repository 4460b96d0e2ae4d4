/*
 * fuzz_config.c — libFuzzer target for the INI configuration parser
 * (src/config.c): tb_config_parse() on arbitrary text, then every accessor
 * over what it returned. On failure *out must be NULL and tb_last_error()
 * one non-empty line. ${VAR} expansion reads the environment; the target
 * sets TB_FUZZ_SECRET so expansions have something to expand.
 * Build and run: tests/fuzz/run.sh [SECONDS].
 */
#include "tracebox.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "sk-FUZZSECRET-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_set;
    if (!env_set) {
        setenv("TB_FUZZ_SECRET", SECRET, 1);
        env_set = 1;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tb_config *cfg = (tb_config *)text;
    tb_status st = tb_config_parse(&cfg, text, "fuzz.ini");
    if (st != TB_OK) {
        assert(cfg == NULL);
        const char *e = tb_last_error();
        assert(e && e[0]);
        assert(strchr(e, '\n') == NULL);
        /* Not asserted: that an expanded ${VAR} is never echoed. It is, for
         * non-secret keys (`batch_size = ${KEY}` prints the value in the
         * error); see the reliability notes. Secret keys never echo. */
    } else {
        (void)tb_config_outbox_path(cfg);
        size_t n = tb_config_destination_count(cfg);
        for (size_t i = 0; i < n; i++) {
            const tb_dest_config *d = tb_config_destination(cfg, i);
            assert(d);
            const char *name = tb_dest_config_name(d);
            assert(name && tb_config_find_destination(cfg, name) == d);
            assert(tb_dest_config_type(d));
            (void)tb_dest_config_where(d, NULL);
            (void)tb_dest_config_get(d, "url");
            (void)tb_dest_config_where(d, "url");
            (void)tb_dest_config_timeout_ms(d);
        }
        assert(tb_config_destination(cfg, n) == NULL);
    }
    tb_config_free(cfg);
    free(text);
    return 0;
}
