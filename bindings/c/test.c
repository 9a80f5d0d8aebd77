/* The C ABI from C: train (from a file and from a hand-written Arrow C stream), save, reload,
 * generate (to a file and into an Arrow C stream), the privacy calculator, error paths and
 * NULL checks for every function. Compiled with -Wall -Werror and run under valgrind by
 * bindings/c/run. Prints "N passed, M failed" and exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doppel.h"

static int passed = 0, failed = 0;

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    const char *last = doppel_last_error();
    fprintf(stderr, "FAIL %s (last error: %s)\n", what, last ? last : "none");
  }
}

static int last_error_contains(const char *needle) {
  const char *last = doppel_last_error();
  return last != NULL && strstr(last, needle) != NULL;
}

static int progress_calls = 0;

static int on_progress(const DoppelProgress *progress, void *user_data) {
  (void)user_data;
  if (progress->epoch >= 1 && progress->steps_per_epoch >= progress->step) progress_calls++;
  return 0;
}

static int count_lines(const char *path, char *first_line, size_t size) {
  FILE *file = fopen(path, "r");
  if (file == NULL) return -1;
  int lines = 0;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, file) != NULL) {
    if (lines == 0) snprintf(first_line, size, "%s", buffer);
    lines++;
  }
  fclose(file);
  return lines;
}

static void write_input(const char *path) {
  static const char *colours[] = {"red", "green", "blue"};
  static const char *sizes[] = {"S", "M"};
  FILE *file = fopen(path, "w");
  fprintf(file, "colour,size,count\n");
  for (int i = 0; i < 300; i++) fprintf(file, "%s,%s,%d\n", colours[i % 3], sizes[i % 2], i % 17);
  fclose(file);
}

static void null_parameters(void) {
  DoppelConfig *config = NULL;
  DoppelModel *model = NULL;
  uint8_t *bytes = NULL;
  size_t len = 0;
  check(doppel_build_info(NULL) == DOPPEL_STATUS_NULL_PARAMETER, "build_info(NULL)");
  check(doppel_config_default(NULL) == DOPPEL_STATUS_NULL_PARAMETER, "config_default(NULL)");
  check(doppel_config_from_json(NULL, &config) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("json is NULL"), "config_from_json(NULL json)");
  check(doppel_config_from_json("{}", NULL) == DOPPEL_STATUS_NULL_PARAMETER, "config_from_json(NULL out)");
  check(doppel_train_file(NULL, "x.csv", NULL, NULL, &model) == DOPPEL_STATUS_NULL_PARAMETER, "train_file(NULL config)");
  check(doppel_model_save(NULL, "m.doppel") == DOPPEL_STATUS_NULL_PARAMETER, "model_save(NULL)");
  check(doppel_model_load(NULL, &model) == DOPPEL_STATUS_NULL_PARAMETER, "model_load(NULL path)");
  check(doppel_model_to_bytes(NULL, &bytes, &len) == DOPPEL_STATUS_NULL_PARAMETER, "model_to_bytes(NULL)");
  check(doppel_model_from_bytes(NULL, 1, &model) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("bytes is NULL"), "model_from_bytes(NULL)");
  check(doppel_model_from_bytes(NULL, 0, &model) == DOPPEL_STATUS_INVALID_MODEL && model == NULL, "model_from_bytes(NULL, 0) is an empty buffer");
  check(doppel_generate_file(NULL, 10, 1, "s.csv") == DOPPEL_STATUS_NULL_PARAMETER, "generate_file(NULL)");
  check(doppel_privacy_epsilon(DOPPEL_ACCOUNTANT_RDP, 0.01, 1.0, 10, 1e-5, NULL) == DOPPEL_STATUS_NULL_PARAMETER, "privacy_epsilon(NULL)");
  check(doppel_privacy_noise(DOPPEL_ACCOUNTANT_RDP, 1.0, 1e-5, 0.01, 10, NULL) == DOPPEL_STATUS_NULL_PARAMETER, "privacy_noise(NULL)");
  char *json = NULL;
  check(doppel_report_json(NULL, "s.csv", NULL, NULL, &json) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("real_path is NULL"), "report_json(NULL real)");
  check(doppel_report_json("r.csv", "s.csv", NULL, NULL, NULL) == DOPPEL_STATUS_NULL_PARAMETER, "report_json(NULL out)");
  check(json == NULL, "report out-parameter untouched");
  check(config == NULL && model == NULL && bytes == NULL && len == 0, "out-parameters untouched on failure");
  doppel_config_free(NULL);
  doppel_model_free(NULL);
  doppel_string_free(NULL);
  doppel_bytes_free(NULL, 0);
}

/* ---- Arrow C stream interface: a hand-written producer, as a host without Arrow would write. */

enum { BATCH_ROWS = 150, BATCHES = 2, COLUMNS = 3 };
static const char *NAMES[COLUMNS] = {"colour", "size", "count"};

typedef struct {
  int batches_left;
  int stream_releases;
} Producer;

typedef struct {
  struct ArrowSchema children[COLUMNS];
  struct ArrowSchema *pointers[COLUMNS];
} SchemaBlock;

typedef struct {
  struct ArrowArray children[COLUMNS];
  struct ArrowArray *pointers[COLUMNS];
  const void *buffers[COLUMNS][3];
  const void *no_validity[1];
  int32_t offsets[2][BATCH_ROWS + 1];
  char text[2][BATCH_ROWS * 8];
  int64_t counts[BATCH_ROWS];
} BatchBlock;

static void release_schema_child(struct ArrowSchema *schema) { schema->release = NULL; }

static void release_schema(struct ArrowSchema *schema) {
  SchemaBlock *block = schema->private_data;
  for (int c = 0; c < COLUMNS; c++)
    if (block->children[c].release != NULL) block->children[c].release(&block->children[c]);
  free(block);
  schema->release = NULL;
}

static int producer_schema(struct ArrowArrayStream *stream, struct ArrowSchema *out) {
  (void)stream;
  static const char *formats[COLUMNS] = {"u", "u", "l"};
  SchemaBlock *block = calloc(1, sizeof *block);
  if (block == NULL) return 12; /* ENOMEM */
  for (int c = 0; c < COLUMNS; c++) {
    block->children[c] = (struct ArrowSchema){.format = formats[c], .name = NAMES[c],
                                              .flags = ARROW_FLAG_NULLABLE,
                                              .release = release_schema_child};
    block->pointers[c] = &block->children[c];
  }
  *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = COLUMNS,
                              .children = block->pointers, .release = release_schema,
                              .private_data = block};
  return 0;
}

static void release_array_child(struct ArrowArray *array) { array->release = NULL; }

static void release_array(struct ArrowArray *array) {
  BatchBlock *block = array->private_data;
  for (int c = 0; c < COLUMNS; c++)
    if (block->children[c].release != NULL) block->children[c].release(&block->children[c]);
  free(block);
  array->release = NULL;
}

/* One batch of the pattern write_input writes: colour = i % 3, size = i % 2, count = i % 17. */
static int producer_next(struct ArrowArrayStream *stream, struct ArrowArray *out) {
  static const char *colours[] = {"red", "green", "blue"};
  static const char *sizes[] = {"S", "M"};
  Producer *producer = stream->private_data;
  if (producer->batches_left == 0) {
    out->release = NULL; /* the end of the stream */
    return 0;
  }
  int first = (BATCHES - producer->batches_left) * BATCH_ROWS;
  producer->batches_left--;
  BatchBlock *block = calloc(1, sizeof *block);
  if (block == NULL) return 12;
  for (int t = 0; t < 2; t++) {
    int32_t at = 0;
    for (int r = 0; r < BATCH_ROWS; r++) {
      const char *word = t == 0 ? colours[(first + r) % 3] : sizes[(first + r) % 2];
      block->offsets[t][r] = at;
      memcpy(block->text[t] + at, word, strlen(word));
      at += (int32_t)strlen(word);
    }
    block->offsets[t][BATCH_ROWS] = at;
    block->buffers[t][0] = NULL;
    block->buffers[t][1] = block->offsets[t];
    block->buffers[t][2] = block->text[t];
  }
  for (int r = 0; r < BATCH_ROWS; r++) block->counts[r] = (first + r) % 17;
  block->buffers[2][0] = NULL;
  block->buffers[2][1] = block->counts;
  for (int c = 0; c < COLUMNS; c++) {
    block->children[c] = (struct ArrowArray){.length = BATCH_ROWS, .n_buffers = c < 2 ? 3 : 2,
                                             .buffers = block->buffers[c],
                                             .release = release_array_child};
    block->pointers[c] = &block->children[c];
  }
  *out = (struct ArrowArray){.length = BATCH_ROWS, .n_buffers = 1, .n_children = COLUMNS,
                             .buffers = block->no_validity, .children = block->pointers,
                             .release = release_array, .private_data = block};
  return 0;
}

static const char *producer_error(struct ArrowArrayStream *stream) {
  (void)stream;
  return NULL;
}

static void producer_release(struct ArrowArrayStream *stream) {
  ((Producer *)stream->private_data)->stream_releases++;
  stream->release = NULL;
}

static struct ArrowArrayStream producer_stream(Producer *producer) {
  *producer = (Producer){.batches_left = BATCHES};
  return (struct ArrowArrayStream){.get_schema = producer_schema, .get_next = producer_next,
                                   .get_last_error = producer_error,
                                   .release = producer_release, .private_data = producer};
}

/* Reads a stream from the library as a consumer would: the schema, then every batch. */
static void read_generated(struct ArrowArrayStream *stream, int64_t expected_rows) {
  struct ArrowSchema schema;
  check(stream->get_schema(stream, &schema) == 0, "arrow: get_schema");
  check(strcmp(schema.format, "+s") == 0 && schema.n_children == COLUMNS, "arrow: a struct of three columns");
  for (int c = 0; c < COLUMNS && c < schema.n_children; c++)
    check(strcmp(schema.children[c]->name, NAMES[c]) == 0, "arrow: the training columns, in order");
  check(schema.n_children == COLUMNS && strcmp(schema.children[0]->format, "u") == 0 &&
            strcmp(schema.children[2]->format, "l") == 0,
        "arrow: utf8 for text, int64 for the integer column");
  schema.release(&schema);
  int64_t rows = 0;
  int counts_in_range = 1;
  for (;;) {
    struct ArrowArray batch;
    if (stream->get_next(stream, &batch) != 0) {
      check(0, "arrow: get_next");
      break;
    }
    if (batch.release == NULL) break;
    const struct ArrowArray *count = batch.children[2];
    const int64_t *values = (const int64_t *)count->buffers[1] + count->offset;
    const uint8_t *valid = count->buffers[0];
    for (int64_t r = 0; r < count->length; r++) {
      int64_t i = r + count->offset;
      int present = valid == NULL || (valid[i / 8] >> (i % 8) & 1);
      if (present && (values[r] < 0 || values[r] > 16)) counts_in_range = 0;
    }
    rows += batch.length;
    batch.release(&batch);
  }
  check(rows == expected_rows, "arrow: the rows asked for");
  check(counts_in_range, "arrow: every count within the training range 0..16");
  stream->release(stream);
}

static void arrow_round_trip(const DoppelConfig *config) {
  Producer producer;
  struct ArrowArrayStream input = producer_stream(&producer);
  DoppelModel *model = NULL;
  check(doppel_train_arrow(config, &input, NULL, NULL, &model) == DOPPEL_STATUS_OK && model != NULL, "train_arrow");
  check(input.release == NULL && producer.stream_releases == 1, "train_arrow takes the stream over and releases it once");

  struct ArrowArrayStream output;
  check(doppel_generate_arrow(model, 10, 1, NULL) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("out_stream is NULL"), "generate_arrow(NULL out_stream)");
  check(doppel_generate_arrow(model, 1000, 7, &output) == DOPPEL_STATUS_OK, "generate_arrow");
  doppel_model_free(model); /* the stream keeps its own reference */
  read_generated(&output, 1000);

  /* Failures release the stream too. */
  input = producer_stream(&producer);
  model = NULL;
  check(doppel_train_arrow(NULL, &input, NULL, NULL, &model) == DOPPEL_STATUS_NULL_PARAMETER && producer.stream_releases == 1 && input.release == NULL && model == NULL, "train_arrow(NULL config) still takes the stream over and releases it");
  check(doppel_train_arrow(config, NULL, NULL, NULL, &model) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("stream is NULL"), "train_arrow(NULL stream)");
  input = producer_stream(&producer);
  check(doppel_train_arrow(config, &input, NULL, NULL, NULL) == DOPPEL_STATUS_NULL_PARAMETER && producer.stream_releases == 1 && input.release == NULL, "train_arrow(NULL out) still takes the stream over and releases it");
  check(doppel_generate_arrow(NULL, 10, 1, &output) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("model is NULL"), "generate_arrow(NULL model)");
}

/* Steered generation: conditions from the options JSON, a seed stream whose given cells come
 * out exactly, and bad options named with the seed still released. */
static void steered(const DoppelModel *model, const char *dir) {
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/steered.csv", dir);
  check(doppel_generate_steered_file(model, "{\"rows\": 500, \"seed\": 3, \"where\": \"colour in (red, blue) and count >= 10\"}", NULL, path) == DOPPEL_STATUS_OK, "generate_steered_file with conditions");
  FILE *file = fopen(path, "r");
  int rows = 0, kept = 1;
  if (file != NULL && fgets(line, sizeof line, file) != NULL) {
    while (fgets(line, sizeof line, file) != NULL) {
      char colour[64] = "";
      int count = -1;
      if (sscanf(line, "%63[^,],%*[^,],%d", colour, &count) != 2) kept = 0;
      if (strcmp(colour, "green") == 0 || count < 10) kept = 0;
      rows++;
    }
  }
  if (file != NULL) fclose(file);
  check(rows == 500 && kept, "every steered row satisfies the conditions");

  /* A seed with every column given comes out as it went in: 300 rows, the producer's pattern. */
  Producer producer;
  struct ArrowArrayStream seed = producer_stream(&producer);
  snprintf(path, sizeof path, "%s/seeded.csv", dir);
  check(doppel_generate_steered_file(model, NULL, &seed, path) == DOPPEL_STATUS_OK && seed.release == NULL && producer.stream_releases == 1, "generate_steered_file with a seed stream, taken over and released once");
  file = fopen(path, "r");
  rows = 0;
  int same = 1;
  static const char *colours[] = {"red", "green", "blue"};
  static const char *sizes[] = {"S", "M"};
  if (file != NULL && fgets(line, sizeof line, file) != NULL) {
    while (fgets(line, sizeof line, file) != NULL) {
      char want[64];
      snprintf(want, sizeof want, "%s,%s,%d\n", colours[rows % 3], sizes[rows % 2], rows % 17);
      if (strcmp(line, want) != 0) same = 0;
      rows++;
    }
  }
  if (file != NULL) fclose(file);
  check(rows == BATCHES * BATCH_ROWS && same, "the seed's cells come out exactly, one row per seed row");

  seed = producer_stream(&producer);
  check(doppel_generate_steered_file(model, "{\"wher\": \"count > 3\"}", &seed, path) == DOPPEL_STATUS_INVALID_CONFIG && last_error_contains("wher") && seed.release == NULL && producer.stream_releases == 1, "an unknown options key is INVALID_CONFIG naming it, the seed released");
  check(doppel_generate_steered_file(model, "{\"where\": \"colour = purple\"}", NULL, path) == DOPPEL_STATUS_INVALID_CONFIG && last_error_contains("purple"), "a condition no row can meet is INVALID_CONFIG naming the value");
  struct ArrowArrayStream output;
  check(doppel_generate_steered_arrow(model, "{\"rows\": 1000, \"where\": \"count <= 16\"}", NULL, &output) == DOPPEL_STATUS_OK, "generate_steered_arrow");
  read_generated(&output, 1000);

  /* The privacy filter against the training rows (the producer's 300): this model learned
   * those few combinations only, so every generated row copies one; the filter refuses after
   * 100 times the rows, and writes nothing. */
  seed = producer_stream(&producer);
  size_t dropped = 7;
  snprintf(path, sizeof path, "%s/filtered.csv", dir);
  check(doppel_generate_filtered_file(model, "{\"rows\": 50}", &seed, 0.0, path, &dropped) == DOPPEL_STATUS_INVALID_DATA && last_error_contains("lower the filter distance") && dropped == 7 && seed.release == NULL && producer.stream_releases == 1, "generate_filtered_file: only copies is INVALID_DATA, the training stream released once");
  file = fopen(path, "r");
  check(file == NULL, "nothing written");
  if (file != NULL) fclose(file);
  check(doppel_generate_filtered_file(model, NULL, NULL, 0.0, path, NULL) == DOPPEL_STATUS_NULL_PARAMETER && last_error_contains("training is NULL"), "generate_filtered_file(NULL training)");
}

/* The LoRA model through the same calls: model.kind = "lora" on the tiny base the run script
 * wrote (a random 2-layer Llama with a tokenizer of this table; nothing is downloaded). */
static void lora(const char *dir, const char *base) {
  char json[2048], input[512], saved[512], generated[512], first[4096];
  snprintf(input, sizeof input, "%s/lora-in.csv", dir);
  snprintf(saved, sizeof saved, "%s/lora.doppel", dir);
  snprintf(generated, sizeof generated, "%s/lora.csv", dir);
  /* 40 rows: valgrind runs this part about 50 times slower than natively. */
  static const char *colours[] = {"red", "green", "blue"};
  FILE *file = fopen(input, "w");
  fprintf(file, "colour,size,count\n");
  for (int i = 0; i < 40; i++) fprintf(file, "%s,%s,%d\n", colours[i % 3], i % 2 ? "M" : "S", i % 17);
  fclose(file);
  DoppelConfig *config = NULL;
  check(doppel_config_from_json("{\"model\": {\"kind\": \"lora\"}}", &config) == DOPPEL_STATUS_OK, "a LoRA config without a base reads");
  DoppelModel *model = NULL;
  check(doppel_train_file(config, input, NULL, NULL, &model) == DOPPEL_STATUS_INVALID_CONFIG && model == NULL && last_error_contains("model.base_model"), "LoRA without a base is INVALID_CONFIG naming model.base_model");
  doppel_config_free(config);
  config = NULL;
  snprintf(json, sizeof json, "{\"model\": {\"kind\": \"lora\", \"base_model\": \"%s/nowhere\"}}", dir);
  check(doppel_config_from_json(json, &config) == DOPPEL_STATUS_OK, "config with a missing base reads");
  check(doppel_train_file(config, input, NULL, NULL, &model) == DOPPEL_STATUS_INVALID_MODEL && model == NULL && last_error_contains("nowhere"), "a missing base is INVALID_MODEL naming it");
  doppel_config_free(config);
  config = NULL;
  snprintf(json, sizeof json,
           "{\"model\": {\"kind\": \"lora\", \"base_model\": \"%s\", \"lora\": {\"rank\": 4, \"targets\": [\"q\", \"v\", \"down\"], \"max_record_tokens\": 40}}, "
           "\"training\": {\"max_epochs\": 1, \"batch_size\": 16, \"learning_rate\": 0.01}}",
           base);
  check(doppel_config_from_json(json, &config) == DOPPEL_STATUS_OK, "a LoRA config reads");
  progress_calls = 0;
  check(doppel_train_file(config, input, on_progress, NULL, &model) == DOPPEL_STATUS_OK && model != NULL, "LoRA trains through train_file");
  check(progress_calls >= 2, "LoRA training reports progress");
  check(doppel_model_save(model, saved) == DOPPEL_STATUS_OK, "a LoRA model saves");
  DoppelModel *loaded = NULL;
  check(doppel_model_load(saved, &loaded) == DOPPEL_STATUS_OK && loaded != NULL, "a LoRA model loads onto its recorded base");
  check(doppel_generate_file(loaded, 8, 3, generated) == DOPPEL_STATUS_OK, "a LoRA model generates");
  int lines = count_lines(generated, first, sizeof first);
  check(lines == 9, "8 LoRA records and a header");
  check(strcmp(first, "colour,size,count\n") == 0, "the LoRA records have the table's columns");
  /* Steered through the same call as the LSTM's: every record keeps the condition. */
  check(doppel_generate_steered_file(loaded, "{\"rows\": 6, \"seed\": 2, \"where\": \"colour = blue and size = M\"}", NULL, generated) == DOPPEL_STATUS_OK, "a LoRA model generates steered records");
  FILE *steered_rows = fopen(generated, "r");
  char line[256];
  int kept = 0, seen = 0;
  if (steered_rows != NULL && fgets(line, sizeof line, steered_rows) != NULL) {
    while (fgets(line, sizeof line, steered_rows) != NULL) {
      seen++;
      kept += strncmp(line, "blue,M,", 7) == 0;
    }
  }
  if (steered_rows != NULL) fclose(steered_rows);
  check(seen == 6 && kept == 6, "every steered LoRA record keeps its condition");
  doppel_model_free(loaded);
  doppel_model_free(model);
  doppel_config_free(config);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  char input[512], saved[512], generated[512], missing[512], short_input[512], unknown[512];
  char first[4096];
  snprintf(input, sizeof input, "%s/in.csv", dir);
  snprintf(short_input, sizeof short_input, "%s/short.csv", dir);
  snprintf(unknown, sizeof unknown, "%s/data.xyz", dir);
  snprintf(saved, sizeof saved, "%s/m.doppel", dir);
  snprintf(generated, sizeof generated, "%s/s.csv", dir);
  snprintf(missing, sizeof missing, "%s/missing.csv", dir);
  write_input(input);

  check(strlen(doppel_version()) > 0, "version");
  char *info = NULL;
  check(doppel_build_info(&info) == DOPPEL_STATUS_OK && strstr(info, "\"cuda\":") != NULL && strstr(info, "\"devices\":[\"cpu\"") != NULL && strstr(info, "\"auto_device\":") != NULL, "build_info names the devices");
  doppel_string_free(info);

  null_parameters();

  DoppelConfig *config = NULL;
  check(doppel_config_from_json("{\"training\": {\"max_epochs\": 2, \"batch_size\": 64}}", &config) == DOPPEL_STATUS_OK, "config_from_json");
  DoppelConfig *bad = NULL;
  check(doppel_config_from_json("{\"trainin\": {}}", &bad) == DOPPEL_STATUS_INVALID_CONFIG && bad == NULL && last_error_contains("trainin"), "a bad config key is named");
  /* A JSON array where a section (or the whole configuration) belongs would be read by position
   * (optimizer "adam", learning rate 0.5; delimiter ';'): it is refused, naming the key. */
  check(doppel_config_from_json("{\"training\": [\"adam\", 0.5]}", &bad) == DOPPEL_STATUS_INVALID_CONFIG && bad == NULL && last_error_contains("training: an array is accepted only for a list"), "an array for a section is INVALID_CONFIG naming the key");
  check(doppel_config_from_json("[\";\"]", &bad) == DOPPEL_STATUS_INVALID_CONFIG && bad == NULL && last_error_contains("(top level): an array"), "a top-level array is INVALID_CONFIG");
  check(doppel_config_from_json("{\"missing_tokens\": [\"?\"]}", &bad) == DOPPEL_STATUS_OK && bad != NULL, "a list still takes an array");
  doppel_config_free(bad);
  bad = NULL;
  /* The device is a configuration key: training.device = auto (default), cpu or cuda. */
  check(doppel_config_from_json("{\"training\": {\"device\": \"cpu\"}}", &bad) == DOPPEL_STATUS_OK && bad != NULL, "training.device = cpu");
  doppel_config_free(bad);
  bad = NULL;
  check(doppel_config_from_json("{\"training\": {\"device\": \"tpu\"}}", &bad) == DOPPEL_STATUS_INVALID_CONFIG && bad == NULL && last_error_contains("training.device"), "an unknown device is INVALID_CONFIG naming training.device");

  DoppelModel *model = NULL;
  check(doppel_train_file(config, missing, NULL, NULL, &model) == DOPPEL_STATUS_IO && model == NULL && last_error_contains("missing.csv"), "a missing file is an IO error naming it");
  FILE *few = fopen(short_input, "w");
  fprintf(few, "colour,count\nred,1\nblue,2\n");
  fclose(few);
  check(doppel_train_file(config, short_input, NULL, NULL, &model) == DOPPEL_STATUS_INVALID_DATA && model == NULL && last_error_contains("short.csv: only 2 data row(s)"), "a file too short to learn from is INVALID_DATA naming it");
  check(doppel_train_file(config, unknown, NULL, NULL, &model) == DOPPEL_STATUS_INVALID_ARGUMENT && model == NULL && last_error_contains("data.xyz: unknown file extension") && last_error_contains(".parquet"), "an unknown extension is INVALID_ARGUMENT naming the supported ones");
  check(doppel_train_file(config, input, on_progress, NULL, &model) == DOPPEL_STATUS_OK && model != NULL, "train_file");
  check(progress_calls >= 2, "progress callback called");

  check(doppel_model_save(model, saved) == DOPPEL_STATUS_OK, "model_save");
  DoppelModel *loaded = NULL;
  check(doppel_model_load(saved, &loaded) == DOPPEL_STATUS_OK && loaded != NULL, "model_load");
  uint8_t *bytes = NULL;
  size_t len = 0;
  check(doppel_model_to_bytes(loaded, &bytes, &len) == DOPPEL_STATUS_OK && len > 0, "model_to_bytes");
  DoppelModel *copy = NULL;
  check(doppel_model_from_bytes(bytes, len, &copy) == DOPPEL_STATUS_OK && copy != NULL, "model_from_bytes");
  doppel_bytes_free(bytes, len);

  check(doppel_generate_file(copy, 1000, 7, generated) == DOPPEL_STATUS_OK, "generate_file");
  int lines = count_lines(generated, first, sizeof first);
  check(lines == 1001, "1,000 rows and a header");
  check(strcmp(first, "colour,size,count\n") == 0, "the columns of the training data");

  char *report = NULL;
  check(doppel_report_json(input, generated, NULL, NULL, &report) == DOPPEL_STATUS_OK && strstr(report, "\"format\":\"doppel-report\"") != NULL, "report_json");
  doppel_string_free(report);

  double epsilon = 0.0, sigma = 0.0;
  check(doppel_privacy_epsilon(DOPPEL_ACCOUNTANT_RDP, 0.01, 1.0, 1000, 1e-5, &epsilon) == DOPPEL_STATUS_OK && epsilon > 0.0, "privacy_epsilon");
  check(doppel_privacy_noise(DOPPEL_ACCOUNTANT_RDP, epsilon, 1e-5, 0.01, 1000, &sigma) == DOPPEL_STATUS_OK && sigma > 0.999 && sigma < 1.001, "privacy_noise inverts privacy_epsilon");
  check(doppel_privacy_epsilon(DOPPEL_ACCOUNTANT_PRV, 1.5, 1.0, 10, 1e-5, &epsilon) == DOPPEL_STATUS_INVALID_ARGUMENT && last_error_contains("sampling_rate"), "a bad sampling rate is named");
  check(doppel_privacy_noise(DOPPEL_ACCOUNTANT_RDP, -1.0, 1e-5, 0.01, 10, &sigma) == DOPPEL_STATUS_INVALID_ARGUMENT && strncmp(doppel_last_error(), "epsilon must be", 15) == 0, "a bad epsilon is named as the argument, not as a configuration");

  arrow_round_trip(config);
  steered(copy, dir);
  if (argc > 2) {
    lora(dir, argv[2]);
  } else {
    printf("c: LoRA skipped (no base model directory given)\n");
  }

  doppel_model_free(copy);
  doppel_model_free(loaded);
  doppel_model_free(model);
  doppel_config_free(config);
  printf("c: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
