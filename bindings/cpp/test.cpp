// The C++ wrapper (include/doppel.hpp) end to end: train on the small CSV with a progress
// callback, cancel it (by returning false and by throwing), save and reload (file and bytes),
// generate 1,000 rows, generate from 8 threads at once, the report, the privacy calculator, the
// error paths and empty handles; training on a hand-built Arrow C stream and reading generated
// batches back; steered generation and the privacy filter. Run by bindings/cpp/run under
// AddressSanitizer (with LeakSanitizer) and UBSan. Usage: test WORK_DIR DATA_CSV. Prints
// "cpp: N passed, M failed" and exits non-zero on any failure.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "doppel.hpp"

namespace {

int passed = 0;
int failed = 0;

const char* const kFastConfig = R"({"training": {"max_epochs": 2, "batch_size": 64}})";
const char* const kDpConfig =
    R"({"training": {"max_epochs": 2, "batch_size": 64},)"
    R"( "privacy": {"dp": true, "noise_multiplier": 1.0}})";
const char* const kAdultHeader = "age,workclass,education,sex,hours-per-week,income-per-year";

void check(bool ok, const std::string& what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    std::cerr << "FAIL " << what << "\n";
  }
}

// Runs body and checks that it throws a doppel::Error with this status and a message naming
// `needle`.
template <typename Body>
void expect_error(const std::string& what, doppel::Status status, const std::string& needle,
                  Body body) {
  try {
    body();
    check(false, what + " (no error)");
  } catch (const doppel::Error& error) {
    const bool ok =
        error.status() == status && std::string(error.what()).find(needle) != std::string::npos;
    if (!ok) {
      std::cerr << "  got status " << static_cast<int>(error.status()) << ": " << error.what()
                << "\n";
    }
    check(ok, what);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void basics() {
  const std::string version = doppel::version();
  check(!version.empty(), "version");
  const std::string info = doppel::build_info();
  check(info.find("\"cuda\":") != std::string::npos, "build_info has cuda");
  check(info.find("\"version\":\"" + version + "\"") != std::string::npos,
        "build_info has the version");
}

void configs() {
  check(static_cast<bool>(doppel::Config::defaults()), "Config::defaults");
  check(static_cast<bool>(doppel::Config::from_json(kFastConfig)), "Config::from_json");
  expect_error("a bad config key is named", doppel::Status::InvalidConfig, "trainin",
               [] { doppel::Config::from_json(R"({"trainin": {}})"); });
  expect_error("a bad config value is named", doppel::Status::InvalidConfig, "privacy.epsilon",
               [] { doppel::Config::from_json(R"({"privacy": {"epsilon": 1.0}})"); });
  expect_error("an embedded NUL in JSON is refused", doppel::Status::InvalidArgument, "json",
               [] { doppel::Config::from_json(std::string_view("{}\0x", 4)); });
}

// Trains on the CSV with a recording progress callback and checks what it saw.
doppel::Model train_csv(const doppel::Config& config, const std::string& data) {
  std::vector<doppel::Progress> seen;
  doppel::Model model = doppel::train(config, data, [&](const doppel::Progress& progress) {
    seen.push_back(progress);
    return true;
  });
  check(static_cast<bool>(model), "train on the CSV");
  check(seen.size() >= 2, "progress callback called at every step");
  bool sane = !seen.empty();
  for (const auto& p : seen) {
    sane = sane && p.epoch >= 1 && p.epoch <= 2 && p.step >= 1 && p.step <= p.steps_per_epoch &&
           std::isfinite(p.loss) && p.loss > 0.0 && p.epsilon < 0.0;
  }
  check(sane, "progress: epoch, step, positive loss, negative epsilon without DP");
  check(!seen.empty() && seen.back().epoch == 2 && seen.back().step == seen.back().steps_per_epoch,
        "progress reaches the last step of epoch 2");
  return model;
}

void training_errors(const doppel::Config& config, const std::string& dir,
                     const std::string& data) {
  expect_error("a missing file is an IO error naming it", doppel::Status::Io, "missing.csv",
               [&] { doppel::train(config, dir + "/missing.csv"); });
  expect_error("an embedded NUL in a path is refused", doppel::Status::InvalidArgument, "path",
               [&] { doppel::train(config, std::string("in\0.csv", 7)); });

  // Under DP, epsilon is known at the end of each epoch: cancel there, before epoch 2.
  const doppel::Config dp = doppel::Config::from_json(kDpConfig);
  std::vector<doppel::Progress> seen;
  expect_error("returning false cancels training", doppel::Status::Cancelled, "cancel", [&] {
    doppel::train(dp, data, [&](const doppel::Progress& progress) {
      seen.push_back(progress);
      return progress.step < progress.steps_per_epoch;
    });
  });
  check(!seen.empty() && seen.size() == seen.back().steps_per_epoch && seen.back().epoch == 1,
        "cancelled at the end of epoch 1");
  check(!seen.empty() && seen.back().epsilon > 0.0,
        "progress reports the epsilon spent under DP at the end of the epoch");
  bool zero_before = true;
  for (std::size_t i = 0; i + 1 < seen.size(); i++)
    zero_before = zero_before && seen[i].epsilon == 0.0;
  check(zero_before, "under DP, epsilon is 0 during the first epoch");

  int calls = 0;
  try {
    doppel::train(config, data, [&](const doppel::Progress&) -> bool {
      calls++;
      throw std::logic_error("stop from C++");
    });
    check(false, "an exception in the callback is rethrown (no exception)");
  } catch (const std::logic_error& error) {
    check(std::string(error.what()) == "stop from C++" && calls == 1,
          "an exception in the callback cancels training and is rethrown as itself");
  } catch (const doppel::Error& error) {
    check(false,
          std::string("an exception in the callback is rethrown as itself, not ") + error.what());
  }
  check(doppel::privacy_epsilon(doppel::Accountant::Rdp, 0.01, 1.0, 10, 1e-5) > 0.0,
        "the library works after a callback threw");
}

void save_and_reload(const doppel::Model& model, const std::string& dir, const std::string& data) {
  const std::string saved = dir + "/m.doppel";
  model.save(saved);
  const doppel::Model loaded = doppel::Model::load(saved);
  const std::vector<std::uint8_t> bytes = loaded.to_bytes();
  check(!bytes.empty(), "to_bytes");
  const doppel::Model copy = doppel::Model::from_bytes(bytes);
  check(static_cast<bool>(copy), "from_bytes");

  model.generate(1000, 7, dir + "/s.csv");
  const std::vector<std::string> lines = read_lines(dir + "/s.csv");
  check(lines.size() == 1001, "1,000 rows and a header");
  check(!lines.empty() && lines[0] == kAdultHeader, "the columns of the training data");
  loaded.generate(1000, 7, dir + "/s-loaded.csv");
  copy.generate(1000, 7, dir + "/s-copy.csv");
  const std::string rows = read_file(dir + "/s.csv");
  check(read_file(dir + "/s-loaded.csv") == rows && read_file(dir + "/s-copy.csv") == rows,
        "reloaded models (file and bytes) generate the same rows for the same seed");

  expect_error("a model file that is missing is an IO error naming it", doppel::Status::Io,
               "nothing.doppel", [&] { doppel::Model::load(dir + "/nothing.doppel"); });
  expect_error("a CSV is not a model", doppel::Status::InvalidModel, "",
               [&] { doppel::Model::load(data); });
  expect_error("random bytes are not a model", doppel::Status::InvalidModel, "", [] {
    doppel::Model::from_bytes(std::vector<std::uint8_t>{1, 2, 3, 4});
  });
  expect_error("an empty buffer is not a model", doppel::Status::InvalidModel, "",
               [] { doppel::Model::from_bytes(std::vector<std::uint8_t>{}); });
  expect_error("a NULL buffer is named", doppel::Status::NullParameter, "bytes",
               [] { doppel::Model::from_bytes(nullptr, 1); });
  expect_error("(NULL, 0) is an empty buffer", doppel::Status::InvalidModel, "",
               [] { doppel::Model::from_bytes(nullptr, 0); });
  expect_error("saving into a missing directory is an IO error", doppel::Status::Io, "",
               [&] { model.save(dir + "/no/such/dir/m.doppel"); });
}

void threads(const doppel::Model& model, const std::string& dir) {
  const int count = 8;
  std::vector<std::string> errors(count);
  std::vector<std::thread> workers;
  for (int i = 0; i < count; i++) {
    workers.emplace_back([&, i] {
      try {
        model.generate(300, 100 + i, dir + "/t" + std::to_string(i) + ".csv");
      } catch (const std::exception& error) {
        errors[i] = error.what();
      }
    });
  }
  for (auto& worker : workers) worker.join();
  bool ok = true;
  for (int i = 0; i < count; i++) ok = ok && errors[i].empty();
  check(ok, "8 threads generate from one model");
  bool same = true;
  for (int i = 0; i < count; i++) {
    const std::string one = dir + "/u" + std::to_string(i) + ".csv";
    model.generate(300, 100 + i, one);
    same = same && read_file(one) == read_file(dir + "/t" + std::to_string(i) + ".csv");
  }
  check(same, "threads give the same rows as one thread for the same seeds");
  check(read_file(dir + "/t0.csv") != read_file(dir + "/t1.csv"), "other seeds, other rows");
}

void report(const std::string& dir, const std::string& data) {
  const std::string json = doppel::report_json(data, dir + "/s.csv");
  check(json.find("\"format\":\"doppel-report\"") != std::string::npos, "report_json");
  expect_error("a report on a missing file names it", doppel::Status::Io, "gone.csv",
               [&] { doppel::report_json(data, dir + "/gone.csv"); });
}

void privacy() {
  const double epsilon = doppel::privacy_epsilon(doppel::Accountant::Rdp, 0.01, 1.0, 1000, 1e-5);
  check(epsilon > 0.0, "privacy_epsilon");
  const double sigma = doppel::privacy_noise(doppel::Accountant::Rdp, epsilon, 1e-5, 0.01, 1000);
  check(std::fabs(sigma - 1.0) < 1e-3, "privacy_noise inverts privacy_epsilon (RDP)");
  const double prv = doppel::privacy_epsilon(doppel::Accountant::Prv, 0.01, 1.5, 1000, 1e-5);
  const double prv_sigma = doppel::privacy_noise(doppel::Accountant::Prv, prv, 1e-5, 0.01, 1000);
  check(prv > 0.0 && prv < epsilon && std::fabs(prv_sigma - 1.5) < 0.02,
        "PRV: less epsilon for more noise, and privacy_noise inverts it");
  expect_error("a bad sampling rate is named", doppel::Status::InvalidArgument, "sampling_rate",
               [] { doppel::privacy_epsilon(doppel::Accountant::Prv, 1.5, 1.0, 10, 1e-5); });
  expect_error("an unknown accountant is named", doppel::Status::InvalidArgument, "accountant", [] {
    doppel::privacy_noise(static_cast<doppel::Accountant>(7), 1.0, 1e-5, 0.01, 10);
  });
}

void empty_handles(doppel::Model model, const std::string& dir, const std::string& data) {
  doppel::Model moved = std::move(model);
  check(!model && static_cast<bool>(moved), "a moved-from model is empty");
  expect_error("a moved-from model is a clear error", doppel::Status::NullParameter,
               "moved from or closed", [&] { model.generate(10, 1, dir + "/x.csv"); });
  moved.close();
  check(!moved, "a closed model is empty");
  expect_error("a closed model is a clear error", doppel::Status::NullParameter,
               "doppel::Model is empty", [&] { moved.save(dir + "/x.doppel"); });
  expect_error("a closed model cannot serialise", doppel::Status::NullParameter, "doppel::Model",
               [&] { moved.to_bytes(); });
  moved.close();  // closing twice does nothing

  doppel::Config config = doppel::Config::defaults();
  doppel::Config other = std::move(config);
  expect_error("a moved-from config is a clear error", doppel::Status::NullParameter,
               "doppel::Config is empty", [&] { doppel::train(config, data); });
  check(static_cast<bool>(other), "the moved-to config holds it");
}

// ---- A hand-built Arrow C stream producer: batches of count (int64), score (float64) and
// colour (utf8), written against the Arrow C data interface directly, with counters to check
// that the consumer releases everything it is given exactly once.

struct ProducerStats {
  int streams_released = 0;
  int arrays_made = 0;
  int arrays_released = 0;
  int schemas_made = 0;
  int schemas_released = 0;
};

const char* const kColours[] = {"red", "green", "blue"};

// Storage behind one batch: the struct array, its three children and their buffers. The parent
// and each child hold a reference, as the consumer may move children out and release them on
// their own.
struct Batch {
  int refs = 4;
  ProducerStats* stats = nullptr;
  std::vector<std::int64_t> counts;
  std::vector<double> scores;
  std::vector<std::int32_t> offsets{0};
  std::string chars;
  const void* count_buffers[2] = {nullptr, nullptr};
  const void* score_buffers[2] = {nullptr, nullptr};
  const void* colour_buffers[3] = {nullptr, nullptr, nullptr};
  const void* parent_buffers[1] = {nullptr};
  struct ArrowArray children[3] = {};
  struct ArrowArray* child_pointers[3] = {};
};

void unref(Batch* batch) {
  if (--batch->refs == 0) delete batch;
}

void release_child(struct ArrowArray* array) {
  Batch* batch = static_cast<Batch*>(array->private_data);
  array->release = nullptr;
  unref(batch);
}

void release_batch(struct ArrowArray* array) {
  Batch* batch = static_cast<Batch*>(array->private_data);
  for (int i = 0; i < 3; i++) {
    if (array->children[i]->release != nullptr) array->children[i]->release(array->children[i]);
  }
  batch->stats->arrays_released++;
  array->release = nullptr;
  unref(batch);
}

void fill_child(struct ArrowArray* child, Batch* batch, std::int64_t length, const void** buffers,
                std::int64_t n_buffers) {
  *child = {};
  child->length = length;
  child->n_buffers = n_buffers;
  child->buffers = buffers;
  child->release = release_child;
  child->private_data = batch;
}

void fill_batch(struct ArrowArray* out, ProducerStats* stats, std::int64_t first,
                std::int64_t rows) {
  Batch* batch = new Batch();
  batch->stats = stats;
  for (std::int64_t row = first; row < first + rows; row++) {
    batch->counts.push_back(row % 17);
    batch->scores.push_back(static_cast<double>(row % 10) * 0.5 + 0.25);
    batch->chars += kColours[row % 3];
    batch->offsets.push_back(static_cast<std::int32_t>(batch->chars.size()));
  }
  batch->count_buffers[1] = batch->counts.data();
  batch->score_buffers[1] = batch->scores.data();
  batch->colour_buffers[1] = batch->offsets.data();
  batch->colour_buffers[2] = batch->chars.data();
  fill_child(&batch->children[0], batch, rows, batch->count_buffers, 2);
  fill_child(&batch->children[1], batch, rows, batch->score_buffers, 2);
  fill_child(&batch->children[2], batch, rows, batch->colour_buffers, 3);
  for (int i = 0; i < 3; i++) batch->child_pointers[i] = &batch->children[i];
  *out = {};
  out->length = rows;
  out->n_buffers = 1;
  out->n_children = 3;
  out->buffers = batch->parent_buffers;
  out->children = batch->child_pointers;
  out->release = release_batch;
  out->private_data = batch;
  stats->arrays_made++;
}

// The three child schemas of one get_schema call; names and formats are static strings.
struct SchemaStorage {
  ProducerStats* stats = nullptr;
  struct ArrowSchema children[3] = {};
  struct ArrowSchema* child_pointers[3] = {};
};

void release_child_schema(struct ArrowSchema* schema) { schema->release = nullptr; }

void release_schema(struct ArrowSchema* schema) {
  auto* storage = static_cast<SchemaStorage*>(schema->private_data);
  for (int i = 0; i < 3; i++) {
    if (schema->children[i]->release != nullptr) schema->children[i]->release(schema->children[i]);
  }
  storage->stats->schemas_released++;
  delete storage;
  schema->release = nullptr;
}

void fill_schema(struct ArrowSchema* out, ProducerStats* stats) {
  static const char* const names[] = {"count", "score", "colour"};
  static const char* const formats[] = {"l", "g", "u"};
  auto* storage = new SchemaStorage();
  storage->stats = stats;
  for (int i = 0; i < 3; i++) {
    storage->children[i].format = formats[i];
    storage->children[i].name = names[i];
    storage->children[i].flags = ARROW_FLAG_NULLABLE;
    storage->children[i].release = release_child_schema;
    storage->child_pointers[i] = &storage->children[i];
  }
  *out = {};
  out->format = "+s";
  out->name = "";
  out->n_children = 3;
  out->children = storage->child_pointers;
  out->release = release_schema;
  out->private_data = storage;
  stats->schemas_made++;
}

struct Producer {
  ProducerStats* stats;
  int batches;
  std::int64_t rows_per_batch;
  int fail_at;  // the batch whose get_next fails; -1 for none
  int next = 0;
  std::string error;
};

int producer_get_schema(struct ArrowArrayStream* stream, struct ArrowSchema* out) {
  fill_schema(out, static_cast<Producer*>(stream->private_data)->stats);
  return 0;
}

int producer_get_next(struct ArrowArrayStream* stream, struct ArrowArray* out) {
  auto* producer = static_cast<Producer*>(stream->private_data);
  if (producer->next == producer->fail_at) {
    producer->error = "the producer broke on purpose";
    return EIO;
  }
  if (producer->next == producer->batches) {
    *out = {};  // end of stream: a released array
    return 0;
  }
  fill_batch(out, producer->stats, producer->next * producer->rows_per_batch,
             producer->rows_per_batch);
  producer->next++;
  return 0;
}

const char* producer_get_last_error(struct ArrowArrayStream* stream) {
  auto* producer = static_cast<Producer*>(stream->private_data);
  return producer->error.empty() ? nullptr : producer->error.c_str();
}

void producer_release(struct ArrowArrayStream* stream) {
  auto* producer = static_cast<Producer*>(stream->private_data);
  producer->stats->streams_released++;
  delete producer;
  stream->release = nullptr;
}

struct ArrowArrayStream make_stream(ProducerStats* stats, int batches, std::int64_t rows_per_batch,
                                    int fail_at = -1) {
  struct ArrowArrayStream stream = {};
  stream.get_schema = producer_get_schema;
  stream.get_next = producer_get_next;
  stream.get_last_error = producer_get_last_error;
  stream.release = producer_release;
  stream.private_data = new Producer{stats, batches, rows_per_batch, fail_at, 0, {}};
  return stream;
}

bool all_released(const ProducerStats& stats) {
  return stats.streams_released == 1 && stats.arrays_released == stats.arrays_made &&
         stats.schemas_released == stats.schemas_made;
}

// ---- Reading a stream (the consumer side): names, formats and every cell as text.

struct Table {
  std::string error;  // empty when the stream was read to its end
  std::vector<std::string> names;
  std::vector<std::string> formats;
  std::vector<std::vector<std::string>> columns;  // cells as text; "<null>" for nulls
  std::int64_t rows = 0;
  int batches = 0;
};

bool is_valid(const struct ArrowArray* array, std::int64_t index) {
  const auto* validity = static_cast<const std::uint8_t*>(array->buffers[0]);
  if (validity == nullptr) return true;
  const std::int64_t bit = array->offset + index;
  return (validity[bit / 8] >> (bit % 8)) & 1;
}

std::string cell(const struct ArrowArray* array, const std::string& format, std::int64_t index) {
  if (!is_valid(array, index)) return "<null>";
  const std::int64_t at = array->offset + index;
  if (format == "l") return std::to_string(static_cast<const std::int64_t*>(array->buffers[1])[at]);
  if (format == "g") {
    std::ostringstream text;
    text.precision(17);
    text << static_cast<const double*>(array->buffers[1])[at];
    return text.str();
  }
  if (format == "u") {
    const auto* offsets = static_cast<const std::int32_t*>(array->buffers[1]);
    const auto* chars = static_cast<const char*>(array->buffers[2]);
    return std::string(chars + offsets[at],
                       static_cast<std::size_t>(offsets[at + 1] - offsets[at]));
  }
  return "<format " + format + ">";
}

// Reads one batch into the table; false (with table.error) if its shape is wrong.
bool read_batch(const struct ArrowArray& array, Table& table) {
  if (array.n_children != static_cast<std::int64_t>(table.names.size())) {
    table.error = "a batch has " + std::to_string(array.n_children) + " columns";
    return false;
  }
  for (std::size_t c = 0; c < table.names.size(); c++) {
    const struct ArrowArray* child = array.children[c];
    if (child->length < array.offset + array.length) {
      table.error = "column " + table.names[c] + " is shorter than its batch";
      return false;
    }
    for (std::int64_t row = 0; row < array.length; row++) {
      table.columns[c].push_back(cell(child, table.formats[c], array.offset + row));
    }
  }
  table.rows += array.length;
  table.batches++;
  return true;
}

Table read_stream(struct ArrowArrayStream* stream) {
  Table table;
  struct ArrowSchema schema = {};
  if (stream->get_schema(stream, &schema) != 0) {
    const char* message = stream->get_last_error(stream);
    table.error = std::string("get_schema: ") + (message ? message : "no message");
    return table;
  }
  for (std::int64_t i = 0; i < schema.n_children; i++) {
    table.names.push_back(schema.children[i]->name ? schema.children[i]->name : "");
    table.formats.push_back(schema.children[i]->format);
  }
  if (std::string(schema.format) != "+s") table.error = "the schema is not a struct";
  schema.release(&schema);
  table.columns.resize(table.names.size());
  while (table.error.empty()) {
    struct ArrowArray array = {};
    if (stream->get_next(stream, &array) != 0) {
      const char* message = stream->get_last_error(stream);
      table.error = std::string("get_next: ") + (message ? message : "no message");
      break;
    }
    if (array.release == nullptr) break;  // the end
    read_batch(array, table);
    array.release(&array);
  }
  return table;
}

void arrow_stream_basics() {
  ProducerStats stats;
  doppel::ArrowStream a(make_stream(&stats, 1, 10));
  doppel::ArrowStream b = std::move(a);
  check(!a && static_cast<bool>(b), "ArrowStream moves");
  struct ArrowArrayStream raw = b.release();
  check(!b && raw.release != nullptr && stats.streams_released == 0,
        "ArrowStream::release hands it on");
  {
    doppel::ArrowStream c(std::move(raw));
    check(raw.release == nullptr, "adopting a stream marks the source released");
  }
  check(stats.streams_released == 1, "ArrowStream releases its stream once");
}

void arrow_training(const doppel::Config& config, const doppel::Model& csv_model,
                    const std::string& dir_of_test) {
  ProducerStats stats;
  int calls = 0;
  doppel::Model model = doppel::train(config, doppel::ArrowStream(make_stream(&stats, 2, 150)),
                                      [&](const doppel::Progress&) { return ++calls > 0; });
  check(static_cast<bool>(model) && calls >= 2, "train on an Arrow stream, with progress");
  check(stats.arrays_made == 2 && all_released(stats),
        "the library released the stream, both batches and the schema exactly once");

  doppel::ArrowStream generated = model.generate_arrow(1000, 3);
  Table table = read_stream(generated.get());
  check(table.error.empty(), "read the generated stream: " + table.error);
  check(table.names == std::vector<std::string>{"count", "score", "colour"},
        "generated stream: the column names");
  check(table.formats == std::vector<std::string>{"l", "g", "u"},
        "generated stream: Int64, Float64 and Utf8 columns");
  check(table.rows == 1000 && table.batches >= 1, "generated stream: 1,000 rows");
  bool colours = table.columns.size() == 3;
  for (std::size_t i = 0; colours && i < table.columns[2].size(); i++) {
    const std::string& value = table.columns[2][i];
    colours = value == "red" || value == "green" || value == "blue" ||
              value == "<null>";
  }
  check(colours, "generated stream: colours from the training data (none is rare: no _RARE_)");

  Table again = read_stream(model.generate_arrow(1000, 3).get());
  check(again.columns == table.columns, "the same seed gives the same batches");

  // Steered: a seed with every column given comes out as it went in, one row per seed row.
  ProducerStats seed_stats;
  Table seeded = read_stream(
      model.generate_steered_arrow("{}", doppel::ArrowStream(make_stream(&seed_stats, 1, 40)))
          .get());
  ProducerStats again_stats;
  doppel::ArrowStream seed_again(make_stream(&again_stats, 1, 40));
  Table seed_table = read_stream(seed_again.get());
  check(seeded.error.empty() && seeded.rows == 40 && seeded.columns == seed_table.columns,
        "a seed stream's cells come out exactly: " + seeded.error);
  check(all_released(seed_stats), "the seed stream was consumed and released once");
  ProducerStats bad_stats;
  expect_error("an unknown options key", doppel::Status::InvalidConfig, "wher", [&] {
    model.generate_steered_arrow(R"({"wher": "count > 3"})",
                                 doppel::ArrowStream(make_stream(&bad_stats, 1, 10)));
  });
  check(all_released(bad_stats), "a failed steered call releases its seed");

  // The privacy filter against the 300 training rows: the rows asked for, none a copy of a
  // training row (which the unfiltered model does write), the dropped ones counted, the
  // training stream consumed.
  std::set<std::string> training_rows;
  for (int row = 0; row < 300; row++) {
    std::ostringstream line;
    line << row % 17 << ',' << static_cast<double>(row % 10) * 0.5 + 0.25 << ','
         << kColours[row % 3];
    training_rows.insert(line.str());
  }
  const auto copies = [&](const std::string& path) {
    std::vector<std::string> lines = read_lines(path);
    std::size_t n = 0;
    for (std::size_t i = 1; i < lines.size(); i++) n += training_rows.count(lines[i]);
    return std::make_pair(lines.size() - 1, n);
  };
  const std::string filtered_path = dir_of_test + "/filtered.csv";
  model.generate_steered(R"({"rows": 200, "seed": 6})", filtered_path);
  const auto unfiltered = copies(filtered_path);
  check(unfiltered.first == 200 && unfiltered.second > 0,
        "unfiltered, the model copies training rows (" + std::to_string(unfiltered.second) + ")");
  ProducerStats training_stats;
  const std::size_t dropped =
      model.generate_filtered(doppel::ArrowStream(make_stream(&training_stats, 2, 150)),
                              filtered_path, 0.0, R"({"rows": 200, "seed": 6})");
  const auto filtered = copies(filtered_path);
  check(filtered.first == 200 && filtered.second == 0,
        "generate_filtered: 200 rows, none a copy of a training row");
  check(dropped > 0 && all_released(training_stats),
        "generate_filtered counts the copies it dropped (" + std::to_string(dropped) +
            ") and releases the training stream");
  ProducerStats far_stats;
  expect_error("a filter distance of 1.5", doppel::Status::InvalidConfig, "distance", [&] {
    model.generate_filtered(doppel::ArrowStream(make_stream(&far_stats, 1, 10)), filtered_path,
                            1.5);
  });
  check(all_released(far_stats), "a refused filter releases its training stream");
  ProducerStats dp_training;
  const doppel::Model dp_model = doppel::train(
      doppel::Config::from_json(kDpConfig), doppel::ArrowStream(make_stream(&dp_training, 2, 150)));
  ProducerStats dp_stats;
  expect_error("the filter on a DP model", doppel::Status::InvalidConfig, "DP", [&] {
    dp_model.generate_filtered(doppel::ArrowStream(make_stream(&dp_stats, 1, 10)), filtered_path);
  });
  check(all_released(dp_stats) && dp_stats.arrays_made == 0,
        "the DP model refuses before reading the training stream, and releases it");

  doppel::ArrowStream outliving = model.generate_arrow(10, 4);
  model.close();
  check(read_stream(outliving.get()).rows == 10, "a stream outlives its model");
  expect_error("generate_arrow on a closed model", doppel::Status::NullParameter, "doppel::Model",
               [&] { model.generate_arrow(10, 1); });

  Table old = read_stream(
      csv_model.generate_steered_arrow(R"({"rows": 500, "seed": 9, "where": "age >= 60"})").get());
  bool all_old = old.error.empty() && old.rows == 500 && !old.columns.empty();
  for (std::size_t i = 0; all_old && i < old.columns[0].size(); i++) {
    all_old = std::stoll(old.columns[0][i]) >= 60;
  }
  check(all_old, "where age >= 60: every one of 500 rows");
  csv_model.generate_steered(R"({"rows": 50, "where": "age < 30"})", dir_of_test + "/young.csv");
  std::vector<std::string> young = read_lines(dir_of_test + "/young.csv");
  bool all_young = young.size() == 51;
  for (std::size_t i = 1; all_young && i < young.size(); i++) {
    all_young = std::stoi(young[i].substr(0, young[i].find(','))) < 30;
  }
  check(all_young, "generate_steered into a file: 50 rows, every age below 30");

  Table adult = read_stream(csv_model.generate_arrow(1000, 5).get());
  std::string names;
  for (const auto& name : adult.names) names += (names.empty() ? "" : ",") + name;
  check(adult.error.empty() && names == kAdultHeader && adult.rows == 1000,
        "the CSV model's stream: its columns and 1,000 rows");
  check(adult.formats.size() == 6 && adult.formats[0] == "l" && adult.formats[1] == "u",
        "the CSV model's stream: age is Int64, workclass Utf8");
  // workclass has missing values ("?" in the CSV): in a stream they are nulls, not text.
  bool no_tokens = adult.columns.size() == 6;
  for (std::size_t i = 0; no_tokens && i < adult.columns[1].size(); i++) {
    no_tokens = adult.columns[1][i] != "?" && !adult.columns[1][i].empty();
  }
  check(no_tokens, "the CSV model's stream: missing workclass values are nulls, not \"?\" or \"\"");
}

void arrow_errors(const doppel::Config& config) {
  ProducerStats broken;
  try {
    doppel::train(config, doppel::ArrowStream(make_stream(&broken, 3, 50, 1)));
    check(false, "a failing producer is an error (no error)");
  } catch (const doppel::Error& error) {
    check(std::string(error.what()).find("broke on purpose") != std::string::npos,
          std::string("a failing producer's message comes through: ") + error.what());
  }
  check(all_released(broken), "a failing stream is released exactly once");

  ProducerStats thrown;
  try {
    doppel::train(config, doppel::ArrowStream(make_stream(&thrown, 2, 150)),
                  [](const doppel::Progress&) -> bool { throw std::runtime_error("enough"); });
    check(false, "an exception in the Arrow callback is rethrown (no exception)");
  } catch (const doppel::Error&) {
    check(false, "an exception in the Arrow callback is rethrown as itself");
  } catch (const std::runtime_error& error) {
    check(std::string(error.what()) == "enough", "an exception in the Arrow callback is rethrown");
  }
  check(all_released(thrown), "a cancelled stream is released exactly once");

  ProducerStats raw_stats;
  struct ArrowArrayStream raw = make_stream(&raw_stats, 1, 10);
  doppel::Config gone = doppel::Config::defaults();
  doppel::Config keep = std::move(gone);
  expect_error("training on a stream with a moved-from config", doppel::Status::NullParameter,
               "doppel::Config", [&] { doppel::train(gone, &raw); });
  check(raw.release == nullptr && all_released(raw_stats),
        "the stream is taken and released even when the call fails early");
  expect_error("a NULL stream is named", doppel::Status::NullParameter, "stream",
               [&] { doppel::train(keep, static_cast<struct ArrowArrayStream*>(nullptr)); });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: test WORK_DIR DATA_CSV\n";
    return 2;
  }
  const std::string dir = argv[1];
  const std::string data = argv[2];

  // An unexpected exception is one more failure, reported like the others.
  try {
    basics();
    configs();
    const doppel::Config config = doppel::Config::from_json(kFastConfig);
    training_errors(config, dir, data);
    doppel::Model model = train_csv(config, data);
    save_and_reload(model, dir, data);
    threads(model, dir);
    report(dir, data);
    privacy();
    arrow_stream_basics();
    arrow_training(config, model, dir);
    arrow_errors(config);
    empty_handles(std::move(model), dir, data);
  } catch (const std::exception& error) {
    check(false, std::string("unexpected exception: ") + error.what());
  }

  std::cout << "cpp: " << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
