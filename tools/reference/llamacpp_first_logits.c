// Writes llama.cpp's logits after a prompt (the first generated position) as raw f32, with the settings of
// shared/reference/generation (n_ctx = n_batch = n_ubatch = 512, flash attention off, f16 KV cache, 2 threads,
// the prompt in one batch), then prints the 32 greedy tokens (argmax, ties to the lowest id, EOS not stopping) on stdout.
// Usage: llamacpp_first_logits MODEL.gguf ID,ID,... OUT.f32.bin [N_CTX]   (n_ctx 512 unless given; a prompt longer
// than n_batch = 512 goes through llama_decode in 512-token batches, as llama-cli feeds one)
// Built and run by tools/reference/make_llamacpp_isa_spread.sh against two llama.cpp builds (AVX-512, AVX2).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void)level; (void)text; (void)data; }

int main(int argc, char ** argv) {
    if (argc != 4 && argc != 5) { fprintf(stderr, "usage: %s MODEL.gguf ID,ID,... OUT.f32.bin [N_CTX]\n", argv[0]); return 2; }
    static llama_token ids[8192]; int n = 0;
    for (char * s = strtok(argv[2], ","); s && n < 8192; s = strtok(NULL, ",")) ids[n++] = (llama_token)atoi(s);
    if (n == 0) { fprintf(stderr, "no token ids\n"); return 2; }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = argc == 5 ? (uint32_t)atoi(argv[4]) : 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 2; cp.n_threads_batch = 2;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }
    for (int b = 0; b < n; b += 512) {
        const int m = n - b < 512 ? n - b : 512;
        if (llama_decode(ctx, llama_batch_get_one(ids + b, m)) != 0) { fprintf(stderr, "llama_decode failed\n"); return 1; }
    }
    const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const float * logits = llama_get_logits_ith(ctx, -1);
    FILE * f = fopen(argv[3], "wb");
    if (!f || fwrite(logits, sizeof(float), (size_t)vocab, f) != (size_t)vocab) { fprintf(stderr, "cannot write %s\n", argv[3]); return 1; }
    fclose(f);
    for (int step = 0; step < 32; step++) {
        const float * l = llama_get_logits_ith(ctx, -1);
        llama_token best = 0;
        for (int i = 1; i < vocab; i++) if (l[i] > l[best]) best = i;
        printf(step ? ",%d" : "%d", best);
        if (llama_decode(ctx, llama_batch_get_one(&best, 1)) != 0) { fprintf(stderr, "llama_decode failed\n"); return 1; }
    }
    printf("\n");
    llama_free(ctx); llama_model_free(model); llama_backend_free();
    return 0;
}
