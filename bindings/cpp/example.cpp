// A short tour of doppel from C++: train on a CSV with a progress callback, save the model,
// generate rows to a file and as an Arrow C stream, and ask the privacy calculator.
// Usage: example DATA.csv OUT_DIR
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>

#include "doppel.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: example DATA.csv OUT_DIR\n";
    return 2;
  }
  const std::string data = argv[1];
  const std::string out = argv[2];
  try {
    std::cout << "doppel " << doppel::version() << "\n";
    const auto config =
        doppel::Config::from_json(R"({"training": {"max_epochs": 2, "batch_size": 64}})");
    const doppel::Model model = doppel::train(config, data, [](const doppel::Progress& p) {
      if (p.step == p.steps_per_epoch)
        std::cout << "epoch " << p.epoch << ": loss " << p.loss << "\n";
      return true;  // false would cancel training
    });
    model.save(out + "/example.doppel");

    model.generate(5, 42, out + "/example.csv");
    std::ifstream rows(out + "/example.csv");
    for (std::string line; std::getline(rows, line);) std::cout << "  " << line << "\n";

    doppel::ArrowStream stream = model.generate_arrow(2500, 42);
    std::int64_t total = 0;
    for (;;) {
      struct ArrowArray batch = {};
      if (stream.get()->get_next(stream.get(), &batch) != 0 || batch.release == nullptr) break;
      total += batch.length;
      batch.release(&batch);
    }
    std::cout << "arrow stream: " << total << " rows\n";

    const double epsilon = doppel::privacy_epsilon(doppel::Accountant::Prv, 0.01, 1.0, 1000, 1e-5);
    std::cout << "1,000 steps at q=0.01, sigma=1: epsilon " << epsilon << "\n";

    try {
      doppel::Model::load(out + "/no-such-model.doppel");
    } catch (const doppel::Error& error) {  // failures carry the library's status and message
      std::cout << "expected error, status " << static_cast<int>(error.status()) << ": "
                << error.what() << "\n";
    }
  } catch (const doppel::Error& error) {
    std::cerr << "doppel failed (status " << static_cast<int>(error.status())
              << "): " << error.what() << "\n";
    return 1;
  }
  return 0;
}
