// Test helper: a copy of the tiny Hugging Face checkpoint (tests/data/models/tiny-e2b-hf) with
// extra tensors in one more safetensors shard and a section added to its config.json, as the
// official checkpoints carry their vision and audio towers next to the text model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace g4 {

struct HfTensor {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order; empty for a 0-dim scalar
  std::vector<float> values;
};

inline std::string MakeTinyHfCheckpointWith(const std::string& dir_name, const std::vector<HfTensor>& tensors,
                                            const std::string& config_key, const nlohmann::json& config_section) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::TempDir()) / dir_name;
  fs::remove_all(dir);
  fs::copy(std::string(G4_TEST_DATA_DIR) + "/models/tiny-e2b-hf", dir);
  const std::string shard_name = "model-" + config_key + ".safetensors";
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const HfTensor& t : tensors) {
    header[t.name] = {{"dtype", "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.values.size() * 4}}};
    data.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * 4);
  }
  const std::string json = header.dump();
  const uint64_t length = json.size();
  std::ofstream shard(dir / shard_name, std::ios::binary);
  shard.write(reinterpret_cast<const char*>(&length), 8);
  shard << json << data;
  shard.close();

  nlohmann::json index = nlohmann::json::parse(std::ifstream(dir / "model.safetensors.index.json"));
  for (const HfTensor& t : tensors) index["weight_map"][t.name] = shard_name;
  std::ofstream(dir / "model.safetensors.index.json") << index.dump(1);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  config[config_key] = config_section;
  std::ofstream(dir / "config.json") << config.dump(1);
  return dir.string();
}

}  // namespace g4
