/*
 * otlp/conv.h — the attribute conventions a destination can ask for, as
 * bits (internal; encode.h includes it for tb__otlp_options.conventions).
 */
#ifndef TRACEBOX_OTLP_CONV_H
#define TRACEBOX_OTLP_CONV_H

/* Attribute conventions, a bit set. */
#define TB__OTLP_CONV_GENAI 1u         /* OpenTelemetry GenAI, gen_ai.* */
#define TB__OTLP_CONV_OPENINFERENCE 2u /* OpenInference (Arize, Phoenix) */
#define TB__OTLP_CONV_LANGFUSE 4u      /* langfuse.* */
#define TB__OTLP_CONV_WANDB 8u         /* W&B Weave threads: wandb.thread_id, wandb.is_turn */

#endif
