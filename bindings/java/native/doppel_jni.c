/* The JNI shim between dev.doppel.Native and libdoppel's C ABI (include/doppel.h).
 *
 * It stays mechanical: arguments are converted, one doppel_* function is called, and a failed
 * status becomes a dev.doppel.DoppelException built from doppel_last_error(), read on this same
 * thread right after the failing call (the message is per thread and replaced by the next
 * failure). Text crosses in both directions as byte arrays of standard UTF-8, decoded and
 * encoded on the Java side, because JNI's own "modified UTF-8" differs from it (characters
 * outside the BMP, NUL) and the library rejects anything that is not valid UTF-8. Strings
 * passed in are already NUL-terminated by Java. Handles travel as jlong; their lifetime is
 * guarded on the Java side (dev.doppel.Handle), so the shim never sees a freed one. */
#include <jni.h>
#include <stdint.h>
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
  struct progress_target target = {env, bridge, NULL};
  if (bridge != NULL) {
    jclass type = (*env)->GetObjectClass(env, bridge);
    target.report = (*env)->GetMethodID(env, type, "report", "(JJJDD)Z");
    if (target.report == NULL) return 0;
  }
  const char *file = pin(env, path);
  if (file == NULL) return 0;
  DoppelModel *model = NULL;
  DoppelStatus status =
      doppel_train_file((const DoppelConfig *)(intptr_t)config, file,
                        bridge != NULL ? on_progress : NULL, &target, &model);
  /* A Java exception left pending by the callback wins over the status (CANCELLED, or OK when
   * it came at the last step): it goes to the caller, and the model, if any, is dropped. */
  if ((*env)->ExceptionCheck(env)) {
    doppel_model_free(model);
    unpin(env, path, file);
    return 0;
  }
  int succeeded = ok(env, status);
  unpin(env, path, file);
  return succeeded ? (jlong)(intptr_t)model : 0;
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
