// Dumps every node llama.cpp computes for one prompt batch (the reference's settings: n_ctx = n_batch = n_ubatch =
// 512, flash attention off, f16 K/V, 2 threads), through llama.cpp's eval callback: OUTDIR/index.txt lists
// "seq<TAB>name<TAB>op<TAB>type<TAB>ne0,ne1,ne2,ne3<TAB>file" and each contiguous node's bytes go to OUTDIR/seq.bin;
// OUTDIR/logits.bin holds the last token's logits. How LlamaCppReplica was matched op by op (see
// tools/reference/dump_llamacpp_graph.sh). Usage: llamacpp_dump_graph MODEL.gguf ID,ID,... OUTDIR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "ggml.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void)level; (void)text; (void)data; }

static FILE * index_file;
static const char * out_dir;
static int seq;

static bool on_node(struct ggml_tensor * t, bool ask, void * user) {
    (void)user;
    if (ask) return true;   // observe every node
    char path[4096] = "-";
    if (ggml_is_contiguous(t)) {
        snprintf(path, sizeof path, "%s/%05d.bin", out_dir, seq);
        FILE * f = fopen(path, "wb");
        if (!f || fwrite(t->data, 1, ggml_nbytes(t), f) != ggml_nbytes(t)) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
        fclose(f);
    }
    fprintf(index_file, "%05d\t%s\t%s\t%d\t%lld,%lld,%lld,%lld\t%s\n", seq, t->name, ggml_op_desc(t), (int)t->type,
            (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], path);
    seq++;
    return true;
}

int main(int argc, char ** argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s MODEL.gguf ID,ID,... OUTDIR\n", argv[0]); return 2; }
    llama_token ids[512]; int n = 0;
    for (char * s = strtok(argv[2], ","); s && n < 512; s = strtok(NULL, ",")) ids[n++] = (llama_token)atoi(s);
    if (n == 0) { fprintf(stderr, "no token ids\n"); return 2; }
    out_dir = argv[3];
    char path[4096];
    snprintf(path, sizeof path, "%s/index.txt", out_dir);
    if (!(index_file = fopen(path, "w"))) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model * model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 2; cp.n_threads_batch = 2;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.cb_eval = on_node; cp.cb_eval_user_data = NULL;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }
    if (llama_decode(ctx, llama_batch_get_one(ids, n)) != 0) { fprintf(stderr, "llama_decode failed\n"); return 1; }
    const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    snprintf(path, sizeof path, "%s/logits.bin", out_dir);
    FILE * f = fopen(path, "wb");
    if (!f || fwrite(llama_get_logits_ith(ctx, -1), sizeof(float), (size_t)vocab, f) != (size_t)vocab) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    fclose(f); fclose(index_file);
    llama_free(ctx); llama_model_free(model); llama_backend_free();
    return 0;
}
