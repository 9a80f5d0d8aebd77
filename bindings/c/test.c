/* The C ABI from C: train, save, reload, generate, the privacy calculator, error paths and
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

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  char input[512], saved[512], generated[512], missing[512], first[4096];
  snprintf(input, sizeof input, "%s/in.csv", dir);
  snprintf(saved, sizeof saved, "%s/m.doppel", dir);
  snprintf(generated, sizeof generated, "%s/s.csv", dir);
  snprintf(missing, sizeof missing, "%s/missing.csv", dir);
  write_input(input);

  check(strlen(doppel_version()) > 0, "version");
  char *info = NULL;
  check(doppel_build_info(&info) == DOPPEL_STATUS_OK && strstr(info, "\"cuda\":") != NULL, "build_info");
  doppel_string_free(info);

  null_parameters();

  DoppelConfig *config = NULL;
  check(doppel_config_from_json("{\"training\": {\"max_epochs\": 2, \"batch_size\": 64}}", &config) == DOPPEL_STATUS_OK, "config_from_json");
  DoppelConfig *bad = NULL;
  check(doppel_config_from_json("{\"trainin\": {}}", &bad) == DOPPEL_STATUS_INVALID_CONFIG && bad == NULL && last_error_contains("trainin"), "a bad config key is named");

  DoppelModel *model = NULL;
  check(doppel_train_file(config, missing, NULL, NULL, &model) == DOPPEL_STATUS_IO && model == NULL && last_error_contains("missing.csv"), "a missing file is an IO error naming it");
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

  doppel_model_free(copy);
  doppel_model_free(loaded);
  doppel_model_free(model);
  doppel_config_free(config);
  printf("c: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
