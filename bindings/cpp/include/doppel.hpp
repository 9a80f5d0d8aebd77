// doppel.hpp: a header-only C++17 wrapper over the C ABI of libdoppel (include/doppel.h).
//
// - Every non-OK status becomes a doppel::Error carrying the status and the library's message.
// - Handles are move-only RAII objects; strings and buffers the library returns are freed
//   before a function returns, on every path.
// - A Config or Model may be used from many threads at once through its const methods (the C
//   ABI allows it); like any C++ object, not while another thread moves, closes or destroys it.
// - A moved-from or closed object throws Error(Status::NullParameter) when used, never crashes.
// - In-memory tables cross as Arrow C streams (struct ArrowArrayStream, from doppel.h or an
//   Arrow header included first): train takes one over, Model::generate_arrow makes one, and
//   ArrowStream owns one.
#ifndef DOPPEL_HPP
#define DOPPEL_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel.h"

namespace doppel {

/// What a library call did; mirrors DoppelStatus value for value.
enum class Status : int {
  Ok = DOPPEL_STATUS_OK,                             ///< Success.
  NullParameter = DOPPEL_STATUS_NULL_PARAMETER,      ///< A required handle or pointer was missing.
  InvalidArgument = DOPPEL_STATUS_INVALID_ARGUMENT,  ///< An argument is out of range.
  InvalidConfig = DOPPEL_STATUS_INVALID_CONFIG,      ///< The configuration is invalid.
  Io = DOPPEL_STATUS_IO,                             ///< A file could not be read or written.
  InvalidData = DOPPEL_STATUS_INVALID_DATA,          ///< The input data is malformed.
  InvalidModel = DOPPEL_STATUS_INVALID_MODEL,        ///< Not a usable doppel model.
  Cancelled = DOPPEL_STATUS_CANCELLED,               ///< The progress callback asked to stop.
  Internal = DOPPEL_STATUS_INTERNAL,                 ///< Anything else inside the library.
  Panic = DOPPEL_STATUS_PANIC,                       ///< A bug: the library panicked.
};

/// The differential-privacy accountant of the privacy calculator; mirrors DoppelAccountant.
enum class Accountant : int {
  Prv = DOPPEL_ACCOUNTANT_PRV,  ///< Privacy random variables: tight, with an error bound.
  Rdp = DOPPEL_ACCOUNTANT_RDP,  ///< Rényi DP of the subsampled Gaussian.
};

/// A failed library call: status() is the library's status, what() its message.
class Error : public std::runtime_error {
 public:
  /// An error with a status and a message.
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}

  /// The status the library returned.
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

/// Training progress, passed to the callback after each step.
struct Progress {
  std::size_t epoch;            ///< Epoch, from 1.
  std::size_t step;             ///< Step within the epoch, from 1.
  std::size_t steps_per_epoch;  ///< Steps per epoch.
  double loss;                  ///< Training loss of this step, in nats per token.
  /// Under DP: epsilon spent as of the last completed epoch (0 during the first); negative
  /// without DP.
  double epsilon;
};

/// The progress callback: return true to go on, false to cancel (train then throws Cancelled).
/// An exception it throws also cancels training and is rethrown by train.
using ProgressFn = std::function<bool(const Progress&)>;

namespace detail {

/// Throws the Error for a non-OK status, with this thread's last message from the library.
inline void check(DoppelStatus status) {
  if (status == DOPPEL_STATUS_OK) return;
  const char* message = doppel_last_error();
  throw Error(static_cast<Status>(status), message != nullptr ? message : "doppel: no message");
}

/// The error for a handle that was moved from or closed (the C ABI's NULL_PARAMETER, with the
/// C++ reason instead of "model is NULL").
[[noreturn]] inline void throw_empty(const char* what) {
  throw Error(Status::NullParameter,
              std::string(what) + " is empty (moved from or closed); it cannot be used");
}

/// A NUL-terminated copy of text for the C ABI; an embedded NUL would silently cut it short,
/// so it is an InvalidArgument naming the parameter instead.
inline std::string c_text(std::string_view text, const char* name) {
  if (text.find('\0') != std::string_view::npos) {
    throw Error(Status::InvalidArgument, std::string(name) + " contains a NUL byte");
  }
  return std::string(text);
}

/// Deleter of DoppelConfig handles.
struct ConfigFree {
  void operator()(DoppelConfig* config) const noexcept { doppel_config_free(config); }
};

/// Deleter of DoppelModel handles.
struct ModelFree {
  void operator()(DoppelModel* model) const noexcept { doppel_model_free(model); }
};

/// Deleter of strings from the library.
struct StringFree {
  void operator()(char* text) const noexcept { doppel_string_free(text); }
};

/// Deleter of byte buffers from the library, which need their length back.
struct BytesFree {
  std::size_t len;
  void operator()(std::uint8_t* bytes) const noexcept { doppel_bytes_free(bytes, len); }
};

/// Copies a library string into a std::string and frees it (also when the copy throws).
inline std::string take_string(char* text) {
  std::unique_ptr<char, StringFree> owned(text);
  return owned ? std::string(owned.get()) : std::string();
}

/// What train hands the C callback through user_data: the callback, and the exception it threw.
struct ProgressContext {
  const ProgressFn* progress;
  std::exception_ptr error;
};

// The C callback has C language linkage, as the library calls it through a C function pointer.
// No exception may unwind through the library's (Rust) frames: it is stored and training is
// cancelled; train rethrows it once the C call has returned.
extern "C" inline int32_t doppel_hpp_progress_trampoline(const DoppelProgress* progress,
                                                         void* user_data) noexcept {
  auto* context = static_cast<ProgressContext*>(user_data);
  if (context->error) return 1;  // the callback threw before: never call it again
  try {
    const Progress copy{progress->epoch, progress->step, progress->steps_per_epoch, progress->loss,
                        progress->epsilon};
    return (*context->progress)(copy) ? 0 : 1;
  } catch (...) {
    context->error = std::current_exception();
    return 1;
  }
}

}  // namespace detail

/// Owns a struct ArrowArrayStream and releases it on destruction (move-only). Hand it on with
/// get() to a consumer that moves from it (such as arrow::ImportRecordBatchReader), or take the
/// struct out with release(). Use it from one thread at a time.
class ArrowStream {
 public:
  /// An empty (released) stream.
  ArrowStream() noexcept : stream_() {}

  /// Takes ownership of a stream, leaving the source marked released (the Arrow way to move it).
  explicit ArrowStream(struct ArrowArrayStream&& stream) noexcept : stream_(stream) {
    stream.release = nullptr;
  }

  /// Takes the other's stream, leaving it empty.
  ArrowStream(ArrowStream&& other) noexcept : ArrowStream(other.release()) {}

  /// Releases this stream, then takes the other's, leaving it empty.
  ArrowStream& operator=(ArrowStream&& other) noexcept {
    if (this != &other) {
      reset();
      stream_ = other.release();
    }
    return *this;
  }

  ArrowStream(const ArrowStream&) = delete;
  ArrowStream& operator=(const ArrowStream&) = delete;

  /// Releases the stream, if still held.
  ~ArrowStream() { reset(); }

  /// Whether this object still holds a live stream.
  explicit operator bool() const noexcept { return stream_.release != nullptr; }

  /// The stream, still owned by this object (a consumer may move from it).
  struct ArrowArrayStream* get() noexcept {
    return &stream_;
  }

  /// Gives up ownership: returns the stream; this object is then empty.
  struct ArrowArrayStream release() noexcept {
    struct ArrowArrayStream out = stream_;
    stream_.release = nullptr;
    return out;
  }

  /// Releases the stream now, if live.
  void reset() noexcept {
    if (stream_.release != nullptr) stream_.release(&stream_);
    stream_.release = nullptr;
  }

 private:
  struct ArrowArrayStream stream_;
};

class Config;
class Model;

/// Trains a model on a CSV, Parquet or Arrow IPC file (defined below).
inline Model train(const Config& config, const std::string& path, const ProgressFn& progress = {});

/// Trains a model on an Arrow C stream, which it consumes (defined below).
inline Model train(const Config& config, ArrowStream&& stream, const ProgressFn& progress = {});

/// A training configuration (immutable; may be shared between threads).
class Config {
 public:
  /// The default configuration.
  static Config defaults() {
    DoppelConfig* raw = nullptr;
    detail::check(doppel_config_default(&raw));
    return Config(raw);
  }

  /// A configuration from JSON with the keys of the CLI's configuration file (every key
  /// optional); throws InvalidConfig naming a bad key.
  static Config from_json(std::string_view json) {
    const std::string text = detail::c_text(json, "json");
    DoppelConfig* raw = nullptr;
    detail::check(doppel_config_from_json(text.c_str(), &raw));
    return Config(raw);
  }

  /// Whether this object holds a configuration (false once moved from).
  explicit operator bool() const noexcept { return handle_ != nullptr; }

  /// The C handle, still owned by this object (NULL once moved from).
  const DoppelConfig* get() const noexcept { return handle_.get(); }

 private:
  explicit Config(DoppelConfig* raw) noexcept : handle_(raw) {}

  const DoppelConfig* live() const {
    if (!handle_) detail::throw_empty("doppel::Config");
    return handle_.get();
  }

  std::unique_ptr<DoppelConfig, detail::ConfigFree> handle_;

  friend Model train(const Config&, const std::string&, const ProgressFn&);
  friend Model train(const Config&, ArrowStream&&, const ProgressFn&);
};

/// A trained model. Its const methods may run from many threads at once.
class Model {
 public:
  /// Loads a model file; throws InvalidModel for a file that is not one.
  static Model load(const std::string& path) {
    const std::string c_path = detail::c_text(path, "path");
    DoppelModel* raw = nullptr;
    detail::check(doppel_model_load(c_path.c_str(), &raw));
    return Model(raw);
  }

  /// A model from a buffer made by to_bytes (copied).
  static Model from_bytes(const std::uint8_t* bytes, std::size_t len) {
    DoppelModel* raw = nullptr;
    detail::check(doppel_model_from_bytes(bytes, len, &raw));
    return Model(raw);
  }

  /// A model from a buffer made by to_bytes (copied).
  static Model from_bytes(const std::vector<std::uint8_t>& bytes) {
    return from_bytes(bytes.data(), bytes.size());
  }

  /// Saves the model to a file (written whole, then renamed into place).
  void save(const std::string& path) const {
    const std::string c_path = detail::c_text(path, "path");
    detail::check(doppel_model_save(live(), c_path.c_str()));
  }

  /// The model serialised into a buffer.
  std::vector<std::uint8_t> to_bytes() const {
    std::uint8_t* bytes = nullptr;
    std::size_t len = 0;
    detail::check(doppel_model_to_bytes(live(), &bytes, &len));
    const std::unique_ptr<std::uint8_t, detail::BytesFree> owned(bytes, detail::BytesFree{len});
    return std::vector<std::uint8_t>(owned.get(), owned.get() + len);
  }

  /// Generates rows into a file whose format follows its extension (CSV, Parquet, Arrow IPC;
  /// another extension is Error with Status::InvalidArgument). The same seed gives the same
  /// rows.
  void generate(std::size_t rows, std::uint64_t seed, const std::string& path) const {
    const std::string c_path = detail::c_text(path, "path");
    detail::check(doppel_generate_file(live(), rows, seed, c_path.c_str()));
  }

  /// Generates rows as an Arrow C stream of record batches (Int64, Float64 or Utf8 columns).
  /// The stream keeps its own reference to the model, so it may outlive this object.
  ArrowStream generate_arrow(std::size_t rows, std::uint64_t seed) const {
    struct ArrowArrayStream raw = {};
    detail::check(doppel_generate_arrow(live(), rows, seed, &raw));
    return ArrowStream(std::move(raw));
  }

  /// Steered generation into a file (doppel_generate_steered_file). options_json is a JSON
  /// object with any of the keys "rows", "seed", "where" (conditions such as
  /// "age >= 60 and sex = Female"), "rebalance" ("sex=Female:0.5"), "fair"
  /// ("target=income sensitive=sex"), "sampling" and "batch_size"; an unknown key or a
  /// condition no row can meet throws Error with Status::InvalidConfig naming it. A seed, if it
  /// holds a stream, gives one row per seed row with its non-null cells kept exactly; it is
  /// consumed (released) whatever happens.
  void generate_steered(const std::string& options_json, const std::string& path,
                        ArrowStream&& seed = ArrowStream()) const {
    ArrowStream owned(std::move(seed));  // released here if anything throws before the C call
    const std::string c_options = detail::c_text(options_json, "options_json");
    const std::string c_path = detail::c_text(path, "path");
    const DoppelModel* model = live();
    struct ArrowArrayStream handed = owned.release();
    detail::check(doppel_generate_steered_file(model, c_options.c_str(),
                                               handed.release ? &handed : nullptr,
                                               c_path.c_str()));
  }

  /// Steered generation as an Arrow C stream (doppel_generate_steered_arrow): the options and
  /// seed of generate_steered, the batches of generate_arrow.
  ArrowStream generate_steered_arrow(const std::string& options_json,
                                     ArrowStream&& seed = ArrowStream()) const {
    ArrowStream owned(std::move(seed));
    const std::string c_options = detail::c_text(options_json, "options_json");
    const DoppelModel* model = live();
    struct ArrowArrayStream handed = owned.release();
    struct ArrowArrayStream raw = {};
    detail::check(doppel_generate_steered_arrow(model, c_options.c_str(),
                                                handed.release ? &handed : nullptr, &raw));
    return ArrowStream(std::move(raw));
  }

  /// Fills the null cells of a table (consumed) with draws from the model given each row's
  /// known cells, into a file (doppel_impute_file); known cells are never changed. With draws
  /// above 1, each cell takes the typical value of that many draws. options_json as for
  /// generate_steered ("seed" and "sampling" matter).
  void impute(ArrowStream&& table, const std::string& path, std::size_t draws = 1,
              const std::string& options_json = "{}") const {
    ArrowStream owned(std::move(table));
    const std::string c_options = detail::c_text(options_json, "options_json");
    const std::string c_path = detail::c_text(path, "path");
    const DoppelModel* model = live();
    struct ArrowArrayStream handed = owned.release();
    detail::check(doppel_impute_file(model, c_options.c_str(),
                                     handed.release ? &handed : nullptr, draws, c_path.c_str()));
  }

  /// Generation through the privacy filter into a file (doppel_generate_filtered_file): the
  /// rows of generate_steered (options_json as there; no seed) less those within distance of
  /// a row of training (the training rows, consumed; the mean per-cell distance, 0 for exact
  /// copies only), generating on until "rows" are written. Returns how many rows were
  /// dropped. A model trained with DP, or a distance outside [0, 1), throws Error with
  /// Status::InvalidConfig. The filter guards against copies; it is no privacy guarantee.
  std::size_t generate_filtered(ArrowStream&& training, const std::string& path,
                                double distance = 0.0,
                                const std::string& options_json = "{}") const {
    ArrowStream owned(std::move(training));
    const std::string c_options = detail::c_text(options_json, "options_json");
    const std::string c_path = detail::c_text(path, "path");
    const DoppelModel* model = live();
    struct ArrowArrayStream handed = owned.release();
    std::size_t dropped = 0;
    detail::check(doppel_generate_filtered_file(model, c_options.c_str(),
                                                handed.release ? &handed : nullptr, distance,
                                                c_path.c_str(), &dropped));
    return dropped;
  }

  /// Frees the model now; later use throws Error(Status::NullParameter).
  void close() noexcept { handle_.reset(); }

  /// Whether this object holds a model (false once moved from or closed).
  explicit operator bool() const noexcept { return handle_ != nullptr; }

  /// The C handle, still owned by this object (NULL once moved from or closed).
  const DoppelModel* get() const noexcept { return handle_.get(); }

 private:
  explicit Model(DoppelModel* raw) noexcept : handle_(raw) {}

  const DoppelModel* live() const {
    if (!handle_) detail::throw_empty("doppel::Model");
    return handle_.get();
  }

  std::unique_ptr<DoppelModel, detail::ModelFree> handle_;

  friend Model train(const Config&, const std::string&, const ProgressFn&);
  friend Model train(const Config&, ArrowStream&&, const ProgressFn&);
};

/// Trains a model on a CSV, Parquet or Arrow IPC file (by extension; another extension is Error
/// with Status::InvalidArgument). The progress callback,
/// if given, runs on this thread after each step; returning false cancels (Error Cancelled),
/// and an exception it throws cancels training and is rethrown here.
inline Model train(const Config& config, const std::string& path, const ProgressFn& progress) {
  const std::string c_path = detail::c_text(path, "path");
  detail::ProgressContext context{&progress, nullptr};
  DoppelModel* raw = nullptr;
  const DoppelStatus status = doppel_train_file(
      config.live(), c_path.c_str(), progress ? detail::doppel_hpp_progress_trampoline : nullptr,
      &context, &raw);
  Model model(raw);
  if (context.error) std::rethrow_exception(context.error);
  detail::check(status);
  return model;
}

/// Trains a model on the record batches of an Arrow C stream, which it consumes (released
/// whatever happens). Progress as for the file overload.
inline Model train(const Config& config, ArrowStream&& stream, const ProgressFn& progress) {
  ArrowStream owned(std::move(stream));  // released here if anything throws before the C call
  const DoppelConfig* c_config = config.live();
  detail::ProgressContext context{&progress, nullptr};
  // The library takes ownership of the stream whatever the status: hand it the struct itself.
  struct ArrowArrayStream handed = owned.release();
  DoppelModel* raw = nullptr;
  const DoppelStatus status = doppel_train_arrow(
      c_config, &handed, progress ? detail::doppel_hpp_progress_trampoline : nullptr, &context,
      &raw);
  Model model(raw);
  if (context.error) std::rethrow_exception(context.error);
  detail::check(status);
  return model;
}

/// Trains a model on a raw Arrow C stream, taking ownership of it as the C ABI does (the
/// stream is released whatever happens and left marked released).
inline Model train(const Config& config, struct ArrowArrayStream* stream,
                   const ProgressFn& progress = {}) {
  if (stream == nullptr) throw Error(Status::NullParameter, "stream is NULL");
  return train(config, ArrowStream(std::move(*stream)), progress);
}

/// The epsilon spent by `steps` Poisson-subsampled Gaussian steps at `delta`.
inline double privacy_epsilon(Accountant accountant, double sampling_rate, double noise_multiplier,
                              std::uint64_t steps, double delta) {
  double epsilon = 0.0;
  detail::check(doppel_privacy_epsilon(static_cast<std::int32_t>(accountant), sampling_rate,
                                       noise_multiplier, steps, delta, &epsilon));
  return epsilon;
}

/// The smallest noise multiplier that keeps `steps` steps at `sampling_rate` within
/// (`epsilon`, `delta`).
inline double privacy_noise(Accountant accountant, double epsilon, double delta,
                            double sampling_rate, std::uint64_t steps) {
  double noise = 0.0;
  detail::check(doppel_privacy_noise(static_cast<std::int32_t>(accountant), epsilon, delta,
                                     sampling_rate, steps, &noise));
  return noise;
}

/// The quality and privacy report of a synthetic table as JSON (docs/report.md). The holdout
/// file (real rows not used in training) and the options JSON are optional.
inline std::string report_json(const std::string& real_path, const std::string& synthetic_path,
                               const std::optional<std::string>& holdout_path = std::nullopt,
                               const std::optional<std::string>& options_json = std::nullopt) {
  const std::string real = detail::c_text(real_path, "real_path");
  const std::string synthetic = detail::c_text(synthetic_path, "synthetic_path");
  const std::optional<std::string> holdout =
      holdout_path ? std::optional<std::string>(detail::c_text(*holdout_path, "holdout_path"))
                   : std::nullopt;
  const std::optional<std::string> options =
      options_json ? std::optional<std::string>(detail::c_text(*options_json, "options_json"))
                   : std::nullopt;
  char* json = nullptr;
  detail::check(doppel_report_json(real.c_str(), synthetic.c_str(),
                                   holdout ? holdout->c_str() : nullptr,
                                   options ? options->c_str() : nullptr, &json));
  return detail::take_string(json);
}

/// The library version, e.g. "0.1.0".
inline std::string version() { return doppel_version(); }

/// Build information as JSON, e.g. {"version":"0.1.0","cuda":false}.
inline std::string build_info() {
  char* json = nullptr;
  detail::check(doppel_build_info(&json));
  return detail::take_string(json);
}

}  // namespace doppel

#endif  // DOPPEL_HPP
