// Writes ggml-cpu's GELU lookup table (ggml_table_gelu_f16: f16 gelu(x) for every f16 x, filled by ggml_cpu_init)
// as 65536 little-endian f16 bit patterns to stdout. Built and run by tools/reference/ggml_gelu_table.sh.
#include <stdio.h>
#include "ggml.h"
#include "ggml-cpu.h"

extern ggml_fp16_t ggml_table_gelu_f16[1 << 16];

int main(void) {
    ggml_cpu_init();
    return fwrite(ggml_table_gelu_f16, sizeof(ggml_fp16_t), 1 << 16, stdout) == (1 << 16) ? 0 : 1;
}
