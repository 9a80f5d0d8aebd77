// Arrow C++ interop through the wrapper: an arrow::Table built in memory is exported with
// arrow::ExportRecordBatchReader into a struct ArrowArrayStream and trained on; 1,000 generated
// rows come back through arrow::ImportRecordBatchReader and are checked against the schema and
// against the file doppel writes for the same seed. Built by bindings/cpp/run against the
// libarrow that the pyarrow wheel ships. Usage: arrow_test WORK_DIR. Prints
// "cpp-arrow: N passed, M failed" and exits non-zero on any failure.
#include <arrow/api.h>
#include <arrow/c/bridge.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "doppel.hpp"

namespace {

int passed = 0;
int failed = 0;

const char* const kCities[] = {"Oslo", "Lima", "Pune", "Kyiv"};

void check(bool ok, const std::string& what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    std::cerr << "FAIL " << what << "\n";
  }
}

// Unwraps an arrow::Result, turning a failed one into an exception (caught in main).
template <typename T>
T unwrap(arrow::Result<T> result) {
  if (!result.ok()) throw std::runtime_error(result.status().ToString());
  return std::move(result).ValueOrDie();
}

void ok_or_throw(const arrow::Status& status) {
  if (!status.ok()) throw std::runtime_error(status.ToString());
}

// 400 rows: age (int64), city (utf8, every 50th missing) and score (float64).
std::shared_ptr<arrow::Table> make_table() {
  arrow::Int64Builder ages;
  arrow::StringBuilder cities;
  arrow::DoubleBuilder scores;
  for (int row = 0; row < 400; row++) {
    ok_or_throw(ages.Append(20 + row % 45));
    ok_or_throw(row % 50 == 7 ? cities.AppendNull() : cities.Append(kCities[row % 4]));
    ok_or_throw(scores.Append(static_cast<double>(row % 20) * 0.25 + 1.0));
  }
  auto schema =
      arrow::schema({arrow::field("age", arrow::int64()), arrow::field("city", arrow::utf8()),
                     arrow::field("score", arrow::float64())});
  return arrow::Table::Make(
      schema, {unwrap(ages.Finish()), unwrap(cities.Finish()), unwrap(scores.Finish())});
}

// The table as a C stream of 128-row batches (several batches, as a real producer sends).
struct ArrowArrayStream export_table(const std::shared_ptr<arrow::Table>& table) {
  auto reader = std::make_shared<arrow::TableBatchReader>(table);
  reader->set_chunksize(128);
  struct ArrowArrayStream stream = {};
  ok_or_throw(arrow::ExportRecordBatchReader(reader, &stream));
  return stream;
}

// The field at `index` of every data line of a CSV without quoted commas.
std::vector<std::string> csv_column(const std::string& path, std::size_t index) {
  std::ifstream in(path);
  std::vector<std::string> values;
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; i++) start = line.find(',', start) + 1;
    values.push_back(line.substr(start, line.find(',', start) - start));
  }
  return values;
}

void run(const std::string& dir) {
  const doppel::Config config =
      doppel::Config::from_json(R"({"training": {"max_epochs": 2, "batch_size": 64}})");
  struct ArrowArrayStream exported = export_table(make_table());
  const doppel::Model model = doppel::train(config, &exported);
  check(exported.release == nullptr, "the exported stream was taken over");

  doppel::ArrowStream stream = model.generate_arrow(1000, 11);
  std::shared_ptr<arrow::RecordBatchReader> reader =
      unwrap(arrow::ImportRecordBatchReader(stream.get()));
  check(!stream, "ImportRecordBatchReader moved the stream out of the ArrowStream");
  std::shared_ptr<arrow::Table> generated = unwrap(reader->ToTable());
  auto expected =
      arrow::schema({arrow::field("age", arrow::int64()), arrow::field("city", arrow::utf8()),
                     arrow::field("score", arrow::float64())});
  check(generated->schema()->Equals(*expected, false),
        "the schema: age int64, city utf8, score float64 (got " + generated->schema()->ToString() +
            ")");
  check(generated->num_rows() == 1000, "1,000 rows");
  ok_or_throw(generated->ValidateFull());

  // The same rows as the file generated with the same seed, cell for cell in the city column.
  model.generate(1000, 11, dir + "/arrow-same-seed.csv");
  const std::vector<std::string> from_file = csv_column(dir + "/arrow-same-seed.csv", 1);
  std::vector<std::string> from_stream;
  const std::set<std::string> known = {kCities[0], kCities[1], kCities[2], kCities[3]};
  bool known_only = true;
  for (const auto& chunk : generated->GetColumnByName("city")->chunks()) {
    const auto& cities = static_cast<const arrow::StringArray&>(*chunk);
    for (std::int64_t i = 0; i < cities.length(); i++) {
      from_stream.push_back(cities.IsNull(i) ? "" : cities.GetString(i));
      known_only = known_only && (cities.IsNull(i) || known.count(cities.GetString(i)) == 1);
    }
  }
  // Missing cities are nulls (written as empty cells in the CSV), never empty strings.
  check(known_only, "cities from the training data (none is rare: no _RARE_); missing ones are nulls");
  check(from_stream == from_file, "the stream holds the rows the file has for the same seed");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: arrow_test WORK_DIR\n";
    return 2;
  }
  try {
    run(argv[1]);
  } catch (const std::exception& error) {
    check(false, std::string("unexpected exception: ") + error.what());
  }
  std::cout << "cpp-arrow: " << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
