// Config loading: key paths in errors, unknown keys with suggestions, wrong types, missing
// keys, --set overrides, and every file in configs/ loads and builds its model.
#include <gtest/gtest.h>

#include <filesystem>

#include "kaon/config/run_config.hpp"
#include "kaon/nn/model_config.hpp"
#include "kaon/train/gan_config.hpp"

namespace kaon::config {
namespace {

// The minimal valid config; tests edit it with overrides.
const char* kBase = R"(
version: 1
model:
  input_shape: [4]
  layers:
    - {type: dense, units: 8, activation: relu}
    - {type: dense, units: 2, name: logits}
data: {source: synthetic, generator: jet_images, samples: 10}
optimizer: {type: sgd, lr: 0.1}
trainer: {epochs: 1, batch_size: 4, loss: softmax_cross_entropy}
)";

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult mentions(const std::string& message, std::initializer_list<const char*> parts) {
  if (message.empty()) return ::testing::AssertionFailure() << "no error was raised";
  for (const char* p : parts)
    if (message.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "error '" << message << "' does not mention '" << p << "'";
  return ::testing::AssertionSuccess();
}

nn::Model buildModel(const RunConfig& rc) {
  ConfigNode node(rc.model, "model", rc.path);
  nn::Model m = nn::modelFromConfig(node);
  m.build();
  return m;
}

TEST(RunConfig, ParsesTheBaseConfig) {
  RunConfig rc = parseRunConfig(kBase, "base.yaml");
  EXPECT_EQ(rc.trainer.epochs, 1);
  EXPECT_EQ(rc.trainer.batchSize, 4);
  EXPECT_EQ(rc.resume, "auto");
  EXPECT_EQ(buildModel(rc).outputShapes()[0], Shape{2});
}

TEST(RunConfig, OverridesEditAnyKey) {
  RunConfig rc = parseRunConfig(kBase, "base.yaml",
                                {"trainer.epochs=7", "model.layers.0.units=16", "model.layers[1].name=out",
                                 "trainer.checkpoint.dir=/tmp/x", "logging.metrics_file=m.jsonl"});
  EXPECT_EQ(rc.trainer.epochs, 7);
  EXPECT_EQ(rc.trainer.checkpointDir, "/tmp/x");
  EXPECT_EQ(rc.trainer.metricsFile, "m.jsonl");
  nn::Model m = buildModel(rc);
  EXPECT_EQ(m.layer("dense_1").parameter("weight").shape, (Shape{16, 4}));
  EXPECT_EQ(m.outputNames()[0], "out");
  EXPECT_NE(rc.text.find("units: 16"), std::string::npos);  // the effective config is kept
  EXPECT_TRUE(mentions(errorOf([] { parseRunConfig(kBase, "b", {"trainer.epochs"}); }), {"key.path=value"}));
  EXPECT_TRUE(mentions(errorOf([] { parseRunConfig(kBase, "b", {"model.layers.9.units=3"}); }), {"index", "size 2"}));
  EXPECT_TRUE(mentions(errorOf([] { parseRunConfig(kBase, "b", {"trainer.epochs.x=3"}); }), {"epochs", "value"}));
}

TEST(RunConfig, EachBadConfigGivesItsOwnError) {
  auto err = [](std::vector<std::string> overrides) {
    return errorOf([&] { parseRunConfig(kBase, "bad.yaml", overrides); });
  };
  EXPECT_TRUE(mentions(err({"trainer.epocs=3"}), {"bad.yaml", "trainer.epocs", "did you mean 'epochs'"}));
  EXPECT_TRUE(mentions(err({"trainer.epochs=three"}), {"trainer.epochs", "expected an integer", "'three'"}));
  EXPECT_TRUE(mentions(err({"trainer.batch_size=0"}), {"trainer.batch_size", ">= 1"}));
  EXPECT_TRUE(mentions(err({"trainer.loss=softmax_crossentropy"}),
                       {"trainer.loss", "did you mean 'softmax_cross_entropy'"}));
  EXPECT_TRUE(mentions(err({"version=2"}), {"version", "not supported"}));
  EXPECT_TRUE(mentions(err({"logging.metrics_file=m.txt"}), {"logging.metrics_file", ".csv or .jsonl"}));
  EXPECT_TRUE(mentions(err({"trainer.metrics=[accuracy, f1]"}), {"trainer.metrics", "f1"}));
  EXPECT_TRUE(mentions(err({"trainer.metrics=[acuracy]"}), {"trainer.metrics", "did you mean 'accuracy'"}));
  EXPECT_TRUE(mentions(err({"trainer.metrics=[rmse]"}), {"trainer.metrics", "does not apply to loss"}));
  EXPECT_TRUE(mentions(err({"trainer.loss=mse", "trainer.metrics=[accuracy]"}), {"rmse, mae"}));
  EXPECT_EQ(parseRunConfig(kBase, "b", {"trainer.loss=mse", "trainer.metrics=[psnr, rmse]"}).trainer.metrics.size(), 2u);
  EXPECT_TRUE(mentions(err({"optimiser={type: sgd}"}), {"optimiser", "did you mean 'optimizer'"}));
  EXPECT_TRUE(mentions(errorOf([] { parseRunConfig("version: 1\nmodel: [1, 2\n", "broken.yaml"); }),
                       {"broken.yaml", "invalid YAML", "line"}));
  EXPECT_TRUE(mentions(errorOf([] { parseRunConfig("version: 1\n", "empty.yaml"); }), {"model", "missing"}));
}

TEST(RunConfig, DistributedTrainingKeys) {
  auto err = [](std::vector<std::string> overrides) {
    return errorOf([&] { parseRunConfig(kBase, "bad.yaml", overrides); });
  };
  EXPECT_TRUE(parseRunConfig(kBase, "b", {"trainer.sync_batchnorm=true"}).trainer.syncBatchNorm);
  EXPECT_FALSE(parseRunConfig(kBase, "b").trainer.syncBatchNorm);
  EXPECT_TRUE(mentions(err({"trainer.sync_batchnorm=true", "trainer.mode=downpour"}),
                       {"trainer.sync_batchnorm", "sync only"}));
  EXPECT_TRUE(mentions(err({"trainer.sync_batchnorm=true", "trainer.reproducible=true", "trainer.micro_batch=2"}),
                       {"trainer.sync_batchnorm", "reproducible"}));
  // Gradient buckets: a communication thread by default, the non-blocking path on request.
  EXPECT_EQ(parseRunConfig(kBase, "b").trainer.allreduce, train::AllreduceMode::Thread);
  EXPECT_EQ(parseRunConfig(kBase, "b").trainer.bucketBytes, 0u);  // by device
  EXPECT_EQ(parseRunConfig(kBase, "b", {"trainer.bucket_mb=2"}).trainer.bucketBytes, std::size_t{2} << 20);
  EXPECT_TRUE(mentions(err({"trainer.bucket_mb=0"}), {"trainer.bucket_mb", "> 0"}));
  EXPECT_EQ(parseRunConfig(kBase, "b", {"trainer.allreduce=nonblocking"}).trainer.allreduce,
            train::AllreduceMode::Nonblocking);
  EXPECT_TRUE(mentions(err({"trainer.allreduce=async"}), {"trainer.allreduce", "thread", "nonblocking"}));
  EXPECT_TRUE(mentions(err({"trainer.allreduce=thread", "trainer.mode=downpour"}), {"trainer.allreduce", "sync only"}));
  // Per layer: sync: false keeps a batch_norm layer's statistics local.
  RunConfig rc = parseRunConfig(kBase, "b", {"model.layers[0]={type: batch_norm, sync: false}"});
  EXPECT_NE(buildModel(rc).summary().find("sync off"), std::string::npos);
}

TEST(RunConfig, DeviceAndGpuKeys) {
  RunConfig rc = parseRunConfig(kBase, "base.yaml");
  EXPECT_EQ(rc.device, "cpu");  // the default: results do not change with the machine
  EXPECT_FALSE(rc.gpuShare);
  EXPECT_EQ(rc.gpuCommunicator, "auto");
  rc = parseRunConfig(kBase, "gpu.yaml", {"device=cuda", "gpu={share: true, communicator: mpi}"});
  EXPECT_EQ(rc.device, "cuda");
  EXPECT_TRUE(rc.gpuShare);
  EXPECT_EQ(rc.gpuCommunicator, "mpi");
  EXPECT_EQ(parseRunConfig(kBase, "a.yaml", {"device=auto", "gpu.communicator=nccl"}).gpuCommunicator, "nccl");
  auto err = [](std::vector<std::string> overrides) {
    return errorOf([&] { parseRunConfig(kBase, "bad.yaml", overrides); });
  };
  EXPECT_TRUE(mentions(err({"device=cudaa"}), {"bad.yaml", "device", "did you mean 'cuda'", "cpu, cuda, auto"}));
  EXPECT_TRUE(mentions(err({"devices=cuda"}), {"devices", "did you mean 'device'"}));
  EXPECT_TRUE(mentions(err({"gpu.share=true"}), {"gpu", "device: cuda or auto only"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "gpu.shared=true"}), {"gpu.shared", "did you mean 'share'"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "gpu.communicator=gloo"}), {"gpu.communicator", "auto, nccl, mpi"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "gpu={share: true, communicator: nccl}"}),
                       {"gpu.communicator", "one GPU per rank"}));
}

TEST(ModelConfig, EachBadModelGivesItsOwnError) {
  auto err = [](std::vector<std::string> overrides) {
    return errorOf([&] { buildModel(parseRunConfig(kBase, "bad.yaml", overrides)); });
  };
  EXPECT_TRUE(mentions(err({"model.layers.0.type=dens"}), {"model.layers[0].type", "did you mean 'dense'"}));
  EXPECT_TRUE(mentions(err({"model.layers.0.unit=3"}), {"model.layers[0].unit", "did you mean 'units'"}));
  EXPECT_TRUE(mentions(err({"model.layers.0.units=-3"}), {"model.layers[0].units", "> 0"}));
  EXPECT_TRUE(mentions(err({"model.layers.0.activation=rellu"}), {"model.layers[0].activation", "did you mean 'relu'"}));
  EXPECT_TRUE(mentions(err({"model.layers.1.inputs=[nowhere]"}), {"model.layers[1]", "nowhere"}));
  EXPECT_TRUE(mentions(err({"model.input_shape=[3, 8, 8]"}), {"dense", "flatten"}));
  EXPECT_TRUE(mentions(err({"model.layers.0={type: conv2d, filters: 4}"}), {"model.layers[0].kernel", "missing"}));
  EXPECT_TRUE(mentions(err({"model.outputs=[nothing]"}), {"nothing"}));
}

TEST(RunConfig, GanKindTakesItsOwnSections) {
  const std::string dir = KAON_SOURCE_DIR "/configs/calo_gan.yaml";
  RunConfig rc = loadRunConfig(dir);
  EXPECT_EQ(rc.kind, "gan");
  EXPECT_FALSE(rc.model.IsDefined() && !rc.model.IsNull());
  EXPECT_TRUE(rc.gan.IsMap());
  auto err = [&](std::vector<std::string> overrides) { return errorOf([&] { loadRunConfig(dir, overrides); }); };
  EXPECT_TRUE(mentions(err({"trainer.mode=downpour"}), {"not implemented: GAN with mode downpour"}));
  EXPECT_TRUE(mentions(err({"trainer.loss=mse"}), {"trainer.loss", "kind: standard only"}));
  EXPECT_TRUE(mentions(err({"optimizer={type: sgd, lr: 0.1}"}), {"optimizer", "does not apply to trainer.kind: gan"}));
  EXPECT_TRUE(mentions(err({"trainer.kind=gann"}), {"trainer.kind", "did you mean 'gan'"}));
  // Both networks train in trainer.precision (GPU only), fp16 with its loss_scale section.
  for (const char* p : {"fp32", "tf32", "bf16", "fp16"})
    EXPECT_EQ(precisionName(loadRunConfig(dir, {"device=cuda", std::string("trainer.precision=") + p}).trainer.precision),
              p);
  RunConfig fp16 = loadRunConfig(dir, {"device=cuda", "trainer.precision=fp16",
                                       "trainer.loss_scale={initial: 1024, growth_interval: 50}"});
  EXPECT_EQ(fp16.trainer.lossScale.initialScale, 1024.0);
  EXPECT_EQ(fp16.trainer.lossScale.growthInterval, 50);
  EXPECT_TRUE(mentions(err({"device=cpu", "trainer.precision=bf16"}), {"trainer.precision", "bf16 needs a GPU"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "trainer.precision=bf16", "trainer.loss_scale={initial: 8}"}),
                       {"trainer.loss_scale", "fp16 only"}));
  EXPECT_TRUE(mentions(errorOf([] { parseRunConfig(kBase, "a.yaml", {"gan={latent_size: 4}"}); }),
                       {"gan", "kind: gan only"}));
  auto ganErr = [&](std::vector<std::string> overrides) {
    return errorOf([&] {
      RunConfig r = loadRunConfig(dir, overrides);
      ConfigNode node(r.gan, "gan", r.path);
      train::ganFromConfig(node);
    });
  };
  EXPECT_TRUE(mentions(ganErr({"gan.loss_weights=[1, 2]"}), {"gan.loss_weights", "three values"}));
  EXPECT_TRUE(mentions(ganErr({"gan.label_flips=0.1"}), {"gan.label_flips", "did you mean 'label_flip'"}));
  EXPECT_TRUE(mentions(ganErr({"gan.energy_bins=[100, 10]"}), {"gan.energy_bins", "increase"}));
  EXPECT_TRUE(mentions(ganErr({"gan.generator_optimizer.type=adamm"}), {"gan.generator_optimizer.type"}));
}

TEST(Configs, EveryShippedConfigLoadsAndBuildsItsModel) {
  std::filesystem::path dir = KAON_SOURCE_DIR "/configs";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    RunConfig rc = loadRunConfig(entry.path().string());
    if (rc.kind == "gan") {
      config::ConfigNode node(rc.gan, "gan", rc.path);
      train::GanSetup gan = train::ganFromConfig(node);
      gan.generator.build();
      gan.discriminator.build();
      EXPECT_GT(gan.generator.parameterCount(), 0);
      EXPECT_GT(gan.discriminator.parameterCount(), 0);
      EXPECT_EQ(gan.generator.outputShapes()[0], gan.discriminator.inputShapes()[0]);
    } else {
      nn::Model m = buildModel(rc);
      EXPECT_GT(m.parameterCount(), 0);
    }
    ++count;
  }
  EXPECT_GE(count, 2);
}

}  // namespace
}  // namespace kaon::config

namespace kaon::config {
namespace {

TEST(RunConfig, PrecisionIsParsedAndValidated) {
  EXPECT_EQ(parseRunConfig(kBase, "b").trainer.precision, Precision::Fp32);
  RunConfig rc = parseRunConfig(kBase, "b", {"device=cuda", "trainer.precision=fp16",
                                            "trainer.loss_scale={initial: 1024, growth_interval: 50}"});
  EXPECT_EQ(rc.trainer.precision, Precision::Fp16);
  EXPECT_EQ(rc.trainer.lossScale.initialScale, 1024.0);
  EXPECT_EQ(rc.trainer.lossScale.growthInterval, 50);
  EXPECT_EQ(parseRunConfig(kBase, "b", {"device=auto", "trainer.precision=bf16"}).trainer.precision, Precision::Bf16);
  EXPECT_EQ(parseRunConfig(kBase, "b", {"device=cuda", "trainer.precision=tf32"}).trainer.precision, Precision::Tf32);
  auto err = [](std::vector<std::string> overrides) {
    return errorOf([&] { parseRunConfig(kBase, "p.yaml", overrides); });
  };
  EXPECT_TRUE(mentions(err({"device=cuda", "trainer.precision=fp8"}), {"p.yaml", "trainer.precision", "fp8"}));
  EXPECT_TRUE(mentions(err({"trainer.precision=bf16"}), {"trainer.precision", "bf16 needs a GPU", "fp32 only"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "trainer.precision=bf16", "trainer.loss_scale={initial: 8}"}),
                       {"trainer.loss_scale", "fp16 only"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "trainer.precision=fp16", "trainer.loss_scale={initial: 0}"}),
                       {"trainer.loss_scale.initial", "> 0"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "trainer.precision=fp16", "trainer.loss_scale={intial: 2}"}),
                       {"intial", "did you mean 'initial'"}));
  EXPECT_TRUE(mentions(err({"device=cuda", "trainer.precision=bf16", "trainer.mode=downpour"}),
                       {"trainer.precision", "not implemented", "downpour"}));
}

TEST(Precision, NamesRoundTripAndCpuModelsRefuseLowPrecision) {
  for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Bf16, Precision::Fp16})
    EXPECT_EQ(precisionFromName(precisionName(p)), p);
  EXPECT_THROW(precisionFromName("half"), Error);
  EXPECT_EQ(computeDType(Precision::Bf16), DType::BFloat16);
  EXPECT_EQ(computeDType(Precision::Tf32), DType::Float32);
  RunConfig rc = parseRunConfig(kBase, "b");
  nn::Model m = buildModel(rc);
  for (Precision p : {Precision::Tf32, Precision::Bf16, Precision::Fp16})
    EXPECT_TRUE(mentions(errorOf([&] { m.setPrecision(p); }), {precisionName(p).data(), "GPU", "fp32 only"}));
  m.setPrecision(Precision::Fp32);  // a no-op on the CPU
  EXPECT_EQ(m.precision(), Precision::Fp32);
}

}  // namespace
}  // namespace kaon::config
