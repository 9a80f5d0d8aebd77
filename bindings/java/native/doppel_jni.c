/* The JNI shim between dev.doppel.Native and libdoppel's C ABI (include/doppel.h).
 *
 * It stays mechanical: arguments are converted, one doppel_* function is called, and a failed
 * status becomes a dev.doppel.DoppelException built from doppel_last_error(), read on this same
 * thread right after the failing call (the message is per thread and replaced by the next
 * failure). Text crosses in both directions as byte arrays of standard UTF-8, decoded and
 * encoded on the Java side, because JNI's own "modified UTF-8" differs from it (characters
 * outside the BMP, NUL) and the library rejects anything that is not valid UTF-8. Strings
 * passed in are already NUL-terminated by Java. Handles travel as jlong; their lifetime is
 * guarded on the Java side (dev.doppel.Handle), so the shim never sees a freed one. Arrow C
 * streams travel as the jlong address of a struct ArrowArrayStream owned by the caller (e.g.
 * Arrow Java's ArrowArrayStream.memoryAddress()), so that no Arrow library is needed here. */
#define _POSIX_C_SOURCE 200809L /* open_memstream, for the test-only stream reader */

#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doppel.h"

#define EXCEPTION_CLASS "dev/doppel/DoppelException"

/* A Java byte[] holding a copy of `length` bytes, or NULL with OutOfMemoryError pending. */
static jbyteArray new_bytes(JNIEnv *env, const void *data, size_t length) {
  if (length > INT32_MAX) {
    jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (oom != NULL) (*env)->ThrowNew(env, oom, "a buffer from libdoppel exceeds 2 GiB");
    return NULL;
  }
  jbyteArray array = (*env)->NewByteArray(env, (jsize)length);
  if (array != NULL) (*env)->SetByteArrayRegion(env, array, 0, (jsize)length, data);
  return array;
}

/* Throws DoppelException(status, message) for a failed call. Must run before anything else
 * that could call into libdoppel on this thread, since that could replace the message. */
static void throw_status(JNIEnv *env, DoppelStatus status) {
  const char *message = doppel_last_error();
  if (message == NULL) message = "";
  jbyteArray text = new_bytes(env, message, strlen(message));
  if (text == NULL) return;
  jclass type = (*env)->FindClass(env, EXCEPTION_CLASS);
  if (type == NULL) return;
  jmethodID init = (*env)->GetMethodID(env, type, "<init>", "(I[B)V");
  if (init == NULL) return;
  jobject error = (*env)->NewObject(env, type, init, (jint)status, text);
  if (error != NULL) (*env)->Throw(env, (jthrowable)error);
}

/* Returns 1 when the call succeeded; otherwise throws and returns 0. */
static int ok(JNIEnv *env, DoppelStatus status) {
  if (status == DOPPEL_STATUS_OK) return 1;
  throw_status(env, status);
  return 0;
}

/* Pins a Java byte[] (NUL-terminated text from Native.cString) for the duration of a call.
 * NULL in, NULL out; NULL out with an exception pending when the JVM has no memory. Does
 * nothing while an exception is pending, so that several pins can run in a row. */
static const char *pin(JNIEnv *env, jbyteArray array) {
  if (array == NULL || (*env)->ExceptionCheck(env)) return NULL;
  return (const char *)(*env)->GetByteArrayElements(env, array, NULL);
}

/* Releases what pin() returned; JNI_ABORT because nothing was written to it. */
static void unpin(JNIEnv *env, jbyteArray array, const char *pinned) {
  if (pinned != NULL) (*env)->ReleaseByteArrayElements(env, array, (jbyte *)pinned, JNI_ABORT);
}

/* A library-owned string as a Java byte[], released with doppel_string_free. */
static jbyteArray take_string(JNIEnv *env, char *text) {
  jbyteArray bytes = new_bytes(env, text, strlen(text));
  doppel_string_free(text);
  return bytes;
}

/* What the progress callback needs to reach the Java listener on the training thread. */
struct progress_target {
  JNIEnv *env;
  jobject bridge;
  jmethodID report;
};

/* The DoppelProgressFn: forwards to ProgressBridge.report, which catches whatever the listener
 * throws and answers false. A Java exception pending here (one the bridge could not catch,
 * e.g. a StackOverflowError in the bridge itself) also cancels, since no JNI call may be made
 * with one pending; it then reaches the caller of trainFile. */
static int32_t on_progress(const DoppelProgress *progress, void *user_data) {
  struct progress_target *target = user_data;
  JNIEnv *env = target->env;
  if ((*env)->ExceptionCheck(env)) return 1;
  jboolean go_on = (*env)->CallBooleanMethod(
      env, target->bridge, target->report, (jlong)progress->epoch, (jlong)progress->step,
      (jlong)progress->steps_per_epoch, progress->loss, progress->epsilon);
  if ((*env)->ExceptionCheck(env)) return 1;
  return go_on ? 0 : 1;
}

/* Sets up what on_progress needs for `bridge` (NULL: no callback). Returns 0 with an exception
 * pending when the bridge lacks its report method. */
static int progress_init(JNIEnv *env, jobject bridge, struct progress_target *target) {
  *target = (struct progress_target){env, bridge, NULL};
  if (bridge == NULL) return 1;
  jclass type = (*env)->GetObjectClass(env, bridge);
  target->report = (*env)->GetMethodID(env, type, "report", "(JJJDD)Z");
  return target->report != NULL;
}

/* The model a training call made, as a jlong; 0 with an exception pending when it failed. A Java
 * exception left pending by the callback wins over the status (CANCELLED, or OK when it came at
 * the last step): it goes to the caller, and the model, if any, is dropped. */
static jlong trained(JNIEnv *env, DoppelStatus status, DoppelModel *model) {
  if ((*env)->ExceptionCheck(env)) {
    doppel_model_free(model);
    return 0;
  }
  return ok(env, status) ? (jlong)(intptr_t)model : 0;
}

/* Releases an Arrow stream unless it is NULL or already released (or moved: release NULL). */
static void release_stream(struct ArrowArrayStream *stream) {
  if (stream != NULL && stream->release != NULL) stream->release(stream);
}

JNIEXPORT jbyteArray JNICALL Java_dev_doppel_Native_version(JNIEnv *env, jclass cls) {
  (void)cls;
  const char *version = doppel_version();
  return new_bytes(env, version, strlen(version));
}

JNIEXPORT jbyteArray JNICALL Java_dev_doppel_Native_buildInfo(JNIEnv *env, jclass cls) {
  (void)cls;
  char *json = NULL;
  if (!ok(env, doppel_build_info(&json))) return NULL;
  return take_string(env, json);
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_configDefault(JNIEnv *env, jclass cls) {
  (void)cls;
  DoppelConfig *config = NULL;
  if (!ok(env, doppel_config_default(&config))) return 0;
  return (jlong)(intptr_t)config;
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_configFromJson(JNIEnv *env, jclass cls,
                                                              jbyteArray json) {
  (void)cls;
  const char *text = pin(env, json);
  if (text == NULL) return 0;
  DoppelConfig *config = NULL;
  DoppelStatus status = doppel_config_from_json(text, &config);
  unpin(env, json, text);
  if (!ok(env, status)) return 0;
  return (jlong)(intptr_t)config;
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_configFree(JNIEnv *env, jclass cls,
                                                         jlong config) {
  (void)env;
  (void)cls;
  doppel_config_free((DoppelConfig *)(intptr_t)config);
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_trainFile(JNIEnv *env, jclass cls, jlong config,
                                                         jbyteArray path, jobject bridge) {
  (void)cls;
  struct progress_target target;
  if (!progress_init(env, bridge, &target)) return 0;
  const char *file = pin(env, path);
  if (file == NULL) return 0;
  DoppelModel *model = NULL;
  DoppelStatus status =
      doppel_train_file((const DoppelConfig *)(intptr_t)config, file,
                        bridge != NULL ? on_progress : NULL, &target, &model);
  unpin(env, path, file);
  return trained(env, status, model);
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_trainArrow(JNIEnv *env, jclass cls, jlong config,
                                                          jlong stream, jobject bridge) {
  (void)cls;
  struct ArrowArrayStream *input = (struct ArrowArrayStream *)(intptr_t)stream;
  struct progress_target target;
  if (!progress_init(env, bridge, &target)) {
    /* The library never saw the stream, yet the caller was promised it is taken over. */
    release_stream(input);
    return 0;
  }
  DoppelModel *model = NULL;
  DoppelStatus status =
      doppel_train_arrow((const DoppelConfig *)(intptr_t)config, input,
                         bridge != NULL ? on_progress : NULL, &target, &model);
  return trained(env, status, model);
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_releaseArrowStream(JNIEnv *env, jclass cls,
                                                                 jlong stream) {
  (void)env;
  (void)cls;
  release_stream((struct ArrowArrayStream *)(intptr_t)stream);
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_modelSave(JNIEnv *env, jclass cls, jlong model,
                                                        jbyteArray path) {
  (void)cls;
  const char *file = pin(env, path);
  if (file == NULL) return;
  DoppelStatus status = doppel_model_save((const DoppelModel *)(intptr_t)model, file);
  ok(env, status);
  unpin(env, path, file);
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_modelLoad(JNIEnv *env, jclass cls,
                                                         jbyteArray path) {
  (void)cls;
  const char *file = pin(env, path);
  if (file == NULL) return 0;
  DoppelModel *model = NULL;
  int succeeded = ok(env, doppel_model_load(file, &model));
  unpin(env, path, file);
  return succeeded ? (jlong)(intptr_t)model : 0;
}

JNIEXPORT jbyteArray JNICALL Java_dev_doppel_Native_modelToBytes(JNIEnv *env, jclass cls,
                                                                 jlong model) {
  (void)cls;
  uint8_t *bytes = NULL;
  size_t length = 0;
  if (!ok(env, doppel_model_to_bytes((const DoppelModel *)(intptr_t)model, &bytes, &length)))
    return NULL;
  jbyteArray array = new_bytes(env, bytes, length);
  doppel_bytes_free(bytes, length);
  return array;
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_modelFromBytes(JNIEnv *env, jclass cls,
                                                              jbyteArray bytes) {
  (void)cls;
  jsize length = (*env)->GetArrayLength(env, bytes);
  jbyte *data = (*env)->GetByteArrayElements(env, bytes, NULL);
  if (data == NULL) return 0;
  DoppelModel *model = NULL;
  int succeeded = ok(env, doppel_model_from_bytes((const uint8_t *)data, (size_t)length, &model));
  (*env)->ReleaseByteArrayElements(env, bytes, data, JNI_ABORT);
  return succeeded ? (jlong)(intptr_t)model : 0;
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_modelFree(JNIEnv *env, jclass cls, jlong model) {
  (void)env;
  (void)cls;
  doppel_model_free((DoppelModel *)(intptr_t)model);
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_generateFile(JNIEnv *env, jclass cls,
                                                           jlong model, jlong rows, jlong seed,
                                                           jbyteArray path) {
  (void)cls;
  const char *file = pin(env, path);
  if (file == NULL) return;
  /* rows was checked non-negative in Java; seed is taken as its unsigned 64-bit pattern. */
  DoppelStatus status = doppel_generate_file((const DoppelModel *)(intptr_t)model, (size_t)rows,
                                             (uint64_t)seed, file);
  ok(env, status);
  unpin(env, path, file);
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_generateArrow(JNIEnv *env, jclass cls,
                                                            jlong model, jlong rows, jlong seed,
                                                            jlong stream) {
  (void)cls;
  /* As in generateFile: rows is non-negative, seed taken as its unsigned bit pattern. */
  ok(env, doppel_generate_arrow((const DoppelModel *)(intptr_t)model, (size_t)rows,
                                (uint64_t)seed, (struct ArrowArrayStream *)(intptr_t)stream));
}

/* The steered calls take their input streams over, as train_arrow does: pins the options and
 * (if given) the path; when one cannot be pinned, releases the stream here (the library never
 * sees it then) and returns 0. */
static int pin_or_release(JNIEnv *env, jbyteArray options, const char **json, jbyteArray path,
                          const char **file, struct ArrowArrayStream *stream) {
  *json = pin(env, options);
  *file = NULL;
  if (*json != NULL && (path == NULL || (*file = pin(env, path)) != NULL)) return 1;
  if (*json != NULL) unpin(env, options, *json);
  release_stream(stream);
  return 0;
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_generateSteeredFile(JNIEnv *env, jclass cls,
                                                                  jlong model, jbyteArray options,
                                                                  jlong seed, jbyteArray path) {
  (void)cls;
  struct ArrowArrayStream *input = (struct ArrowArrayStream *)(intptr_t)seed;
  const char *json, *file;
  if (!pin_or_release(env, options, &json, path, &file, input)) return;
  ok(env, doppel_generate_steered_file((const DoppelModel *)(intptr_t)model, json, input, file));
  unpin(env, path, file);
  unpin(env, options, json);
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_generateSteeredArrow(JNIEnv *env, jclass cls,
                                                                   jlong model, jbyteArray options,
                                                                   jlong seed, jlong stream) {
  (void)cls;
  struct ArrowArrayStream *input = (struct ArrowArrayStream *)(intptr_t)seed;
  const char *json, *file;
  if (!pin_or_release(env, options, &json, NULL, &file, input)) return;
  ok(env, doppel_generate_steered_arrow((const DoppelModel *)(intptr_t)model, json, input,
                                        (struct ArrowArrayStream *)(intptr_t)stream));
  unpin(env, options, json);
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_imputeFile(JNIEnv *env, jclass cls, jlong model,
                                                         jbyteArray options, jlong table,
                                                         jlong draws, jbyteArray path) {
  (void)cls;
  struct ArrowArrayStream *input = (struct ArrowArrayStream *)(intptr_t)table;
  const char *json, *file;
  if (!pin_or_release(env, options, &json, path, &file, input)) return;
  /* draws was checked positive in Java. */
  ok(env, doppel_impute_file((const DoppelModel *)(intptr_t)model, json, input, (size_t)draws,
                             file));
  unpin(env, path, file);
  unpin(env, options, json);
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_generateFilteredFile(JNIEnv *env, jclass cls,
                                                                    jlong model, jbyteArray options,
                                                                    jlong training,
                                                                    jdouble distance,
                                                                    jbyteArray path) {
  (void)cls;
  struct ArrowArrayStream *input = (struct ArrowArrayStream *)(intptr_t)training;
  const char *json, *file;
  if (!pin_or_release(env, options, &json, path, &file, input)) return 0;
  size_t dropped = 0;
  ok(env, doppel_generate_filtered_file((const DoppelModel *)(intptr_t)model, json, input,
                                        distance, file, &dropped));
  unpin(env, path, file);
  unpin(env, options, json);
  return (jlong)dropped;
}

JNIEXPORT jdouble JNICALL Java_dev_doppel_Native_privacyEpsilon(JNIEnv *env, jclass cls,
                                                                jint accountant,
                                                                jdouble sampling_rate,
                                                                jdouble noise_multiplier,
                                                                jlong steps, jdouble delta) {
  (void)cls;
  double epsilon = 0.0;
  /* accountant comes from the Accountant enum, so it is always a valid DoppelAccountant. */
  ok(env, doppel_privacy_epsilon((int32_t)accountant, sampling_rate, noise_multiplier,
                                 (uint64_t)steps, delta, &epsilon));
  return epsilon;
}

JNIEXPORT jdouble JNICALL Java_dev_doppel_Native_privacyNoise(JNIEnv *env, jclass cls,
                                                              jint accountant, jdouble epsilon,
                                                              jdouble delta,
                                                              jdouble sampling_rate,
                                                              jlong steps) {
  (void)cls;
  double sigma = 0.0;
  ok(env, doppel_privacy_noise((int32_t)accountant, epsilon, delta, sampling_rate,
                               (uint64_t)steps, &sigma));
  return sigma;
}

JNIEXPORT jbyteArray JNICALL Java_dev_doppel_Native_reportJson(JNIEnv *env, jclass cls,
                                                               jbyteArray real_path,
                                                               jbyteArray synthetic_path,
                                                               jbyteArray holdout_path,
                                                               jbyteArray options_json) {
  (void)cls;
  jbyteArray result = NULL;
  const char *real = pin(env, real_path);
  const char *synthetic = pin(env, synthetic_path);
  const char *holdout = pin(env, holdout_path);
  const char *options = pin(env, options_json);
  /* holdout and options may be NULL by choice: only a pending exception means a pin failed. */
  if (!(*env)->ExceptionCheck(env)) {
    char *json = NULL;
    if (ok(env, doppel_report_json(real, synthetic, holdout, options, &json)))
      result = take_string(env, json);
  }
  unpin(env, options_json, options);
  unpin(env, holdout_path, holdout);
  unpin(env, synthetic_path, synthetic);
  unpin(env, real_path, real);
  return result;
}

/* ---- Test-only helpers (DoppelTest): an Arrow C stream consumer, as Arrow Java would be, so
 * that the Arrow functions can be tested without Arrow Java. Not part of the public API. */

/* Throws IllegalStateException(message); the Arrow checks below fail with it. */
static void throw_illegal_state(JNIEnv *env, const char *message) {
  jclass type = (*env)->FindClass(env, "java/lang/IllegalStateException");
  if (type != NULL) (*env)->ThrowNew(env, type, message);
}

JNIEXPORT jlong JNICALL Java_dev_doppel_Native_allocateArrowStream(JNIEnv *env, jclass cls) {
  (void)cls;
  /* Zeroed: release NULL marks it empty, as Arrow Java's ArrowArrayStream.allocateNew does. */
  struct ArrowArrayStream *stream = calloc(1, sizeof *stream);
  if (stream == NULL) {
    jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (oom != NULL) (*env)->ThrowNew(env, oom, "no memory for an ArrowArrayStream");
  }
  return (jlong)(intptr_t)stream;
}

JNIEXPORT void JNICALL Java_dev_doppel_Native_freeArrowStream(JNIEnv *env, jclass cls,
                                                              jlong stream) {
  (void)env;
  (void)cls;
  struct ArrowArrayStream *storage = (struct ArrowArrayStream *)(intptr_t)stream;
  release_stream(storage);
  free(storage);
}

JNIEXPORT jboolean JNICALL Java_dev_doppel_Native_arrowStreamReleased(JNIEnv *env, jclass cls,
                                                                      jlong stream) {
  (void)env;
  (void)cls;
  return ((struct ArrowArrayStream *)(intptr_t)stream)->release == NULL;
}

/* FNV-1a over `length` bytes, chained through `hash`: a digest of every value read, so that
 * two streams can be compared for the same rows without keeping them. */
static uint64_t fnv1a(uint64_t hash, const void *data, size_t length) {
  const uint8_t *bytes = data;
  for (size_t i = 0; i < length; i++) hash = (hash ^ bytes[i]) * 1099511628211u;
  return hash;
}

/* What the reader learns about one column across all batches. */
struct column_summary {
  int64_t nulls;
  int64_t values; /* non-null Int64 values seen, for min and max */
  int64_t min;
  int64_t max;
};

/* Whether row `i` of `array` holds a value (no validity buffer: every row does). */
static int is_valid(const struct ArrowArray *array, int64_t i) {
  const uint8_t *bits = array->n_buffers > 0 ? array->buffers[0] : NULL;
  if (bits == NULL) return 1;
  int64_t at = array->offset + i;
  return (bits[at / 8] >> (at % 8)) & 1;
}

/* Folds one column of a batch into its summary and the digest. Int64 ("l"), Float64 ("g") and
 * Utf8 ("u") values are hashed, which is what doppel_generate_arrow produces. */
static uint64_t summarise(const struct ArrowArray *array, const char *format,
                          struct column_summary *summary, uint64_t digest) {
  for (int64_t i = 0; i < array->length; i++) {
    int64_t at = array->offset + i;
    if (!is_valid(array, i)) {
      summary->nulls++;
      digest = fnv1a(digest, "\xff", 1);
    } else if (strcmp(format, "l") == 0) {
      int64_t value = ((const int64_t *)array->buffers[1])[at];
      summary->min = summary->values == 0 || value < summary->min ? value : summary->min;
      summary->max = summary->values == 0 || value > summary->max ? value : summary->max;
      summary->values++;
      digest = fnv1a(digest, &value, sizeof value);
    } else if (strcmp(format, "g") == 0) {
      digest = fnv1a(digest, &((const double *)array->buffers[1])[at], sizeof(double));
    } else if (strcmp(format, "u") == 0) {
      const int32_t *offsets = array->buffers[1];
      size_t bytes = (size_t)(offsets[at + 1] - offsets[at]);
      /* Only empty strings may leave the data buffer NULL: do not offset a NULL pointer. */
      if (bytes > 0) digest = fnv1a(digest, (const char *)array->buffers[2] + offsets[at], bytes);
      digest = fnv1a(digest, "", 1); /* a separator, so that "ab","c" differs from "a","bc" */
    }
  }
  return digest;
}

/* The stream's message for its last failed call, or "" when it has none. */
static const char *stream_error(struct ArrowArrayStream *stream) {
  const char *message = stream->get_last_error != NULL ? stream->get_last_error(stream) : NULL;
  return message != NULL ? message : "";
}

/* Reads every batch of the stream at `stream` (get_schema, then get_next until the end) and
 * releases the schema, the batches and the stream. Returns UTF-8 text: "ROWS\tDIGEST", then one
 * line per column "NAME\tFORMAT\tNULLS\tMIN\tMAX" (MIN and MAX of Int64 columns, else "-").
 * Throws IllegalStateException when the stream is released already or misbehaves. */
JNIEXPORT jbyteArray JNICALL Java_dev_doppel_Native_readArrowStream(JNIEnv *env, jclass cls,
                                                                    jlong stream) {
  (void)cls;
  struct ArrowArrayStream *input = (struct ArrowArrayStream *)(intptr_t)stream;
  if (input->release == NULL) {
    throw_illegal_state(env, "arrow: the stream is released");
    return NULL;
  }
  jbyteArray result = NULL;
  struct column_summary *columns = NULL;
  char *text = NULL;
  size_t length = 0;
  FILE *out = NULL;
  const char *failure = NULL;
  const char *why = ""; /* the stream's own message, valid until the stream is released */
  int64_t rows = 0;
  uint64_t digest = 14695981039346656037u;
  struct ArrowSchema schema = {0};
  if (input->get_schema(input, &schema) != 0) {
    failure = "arrow: get_schema failed";
    why = stream_error(input);
    goto done;
  }
  if (strcmp(schema.format, "+s") != 0 || schema.n_children < 1) {
    failure = "arrow: the schema is not a struct of columns";
    goto done;
  }
  columns = calloc((size_t)schema.n_children, sizeof *columns);
  out = open_memstream(&text, &length);
  if (columns == NULL || out == NULL) {
    failure = "arrow: no memory";
    goto done;
  }
  for (;;) {
    struct ArrowArray batch = {0};
    if (input->get_next(input, &batch) != 0) {
      failure = "arrow: get_next failed";
      why = stream_error(input);
      goto done;
    }
    if (batch.release == NULL) break; /* the end of the stream */
    int consistent = batch.n_children == schema.n_children;
    for (int64_t c = 0; consistent && c < batch.n_children; c++) {
      consistent = batch.children[c]->length == batch.length;
      if (consistent)
        digest = summarise(batch.children[c], schema.children[c]->format, &columns[c], digest);
    }
    rows += batch.length;
    batch.release(&batch);
    if (!consistent) {
      failure = "arrow: a batch does not match the schema";
      goto done;
    }
  }
  fprintf(out, "%lld\t%016llx\n", (long long)rows, (unsigned long long)digest);
  for (int64_t c = 0; c < schema.n_children; c++) {
    const struct ArrowSchema *field = schema.children[c];
    fprintf(out, "%s\t%s\t%lld\t", field->name, field->format, (long long)columns[c].nulls);
    if (columns[c].values > 0)
      fprintf(out, "%lld\t%lld\n", (long long)columns[c].min, (long long)columns[c].max);
    else
      fputs("-\t-\n", out);
  }
done:
  if (out != NULL) fclose(out); /* sets text and length */
  if (failure == NULL) {
    result = new_bytes(env, text, length);
  } else {
    char message[512];
    snprintf(message, sizeof message, "%s%s%s", failure, *why ? ": " : "", why);
    throw_illegal_state(env, message);
  }
  free(text);
  free(columns);
  if (schema.release != NULL) schema.release(&schema);
  release_stream(input);
  return result;
}
