/*
 * tracebox.h — guaranteed delivery for LLM-agent traces.
 *
 * Include this umbrella header. The parts:
 *   tracebox/status.h    status codes, tb_last_error()
 *   tracebox/tracing.h   traces, spans, trace processors (the Agents SDK model)
 *   tracebox/outbox.h    the SQLite outbox and its processor
 *   tracebox/exporter.h  the destination interface
 *   tracebox/config.h    the INI configuration
 *   tracebox/shipper.h   delivery to destinations
 *
 * Conventions: functions return tb_status (TB_OK == 0); constructors take an
 * out-parameter first and set it to NULL on failure; every *_free / *_close
 * accepts NULL; strings passed in are copied; strings returned as `char **`
 * are the caller's and are freed with tb_free().
 */
#ifndef TRACEBOX_H
#define TRACEBOX_H

#include "tracebox/common.h"
#include "tracebox/status.h"
#include "tracebox/tracing.h"
#include "tracebox/outbox.h"
#include "tracebox/exporter.h"
#include "tracebox/config.h"
#include "tracebox/shipper.h"
#include "tracebox/admin.h"

#endif
