#include "hdf5_file.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <mutex>

namespace kaon::io {
namespace {

herr_t collectError(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n < 4) {  // the innermost frames say what went wrong; the rest is call-chain noise
    *out += fmt::format("{}{}: {}", out->empty() ? "" : "; ", e->func_name ? e->func_name : "?",
                        e->desc ? e->desc : "?");
  }
  return 0;
}

hid_t nativeType(DType t) {
  switch (t) {
    case DType::Float32: return H5T_NATIVE_FLOAT;
    case DType::Float64: return H5T_NATIVE_DOUBLE;
    case DType::Int32: return H5T_NATIVE_INT32;
    case DType::Int64: return H5T_NATIVE_INT64;
    case DType::UInt8: return H5T_NATIVE_UINT8;
    default: KAON_FAIL("HDF5: cannot store dtype {}", dtypeName(t));
  }
}

// Why a file HDF5 refuses is not HDF5, from its first bytes: the usual suspects named.
std::string describeNonHdf5(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::file_size(path, ec) == 0 && !ec) return "not an HDF5 file: the file is empty";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "not an HDF5 file: the file cannot be read (permissions?)";
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (magic[0] == 'C' && magic[1] == 'D' && magic[2] == 'F' && (magic[3] == 1 || magic[3] == 2 || magic[3] == 5))
    return "not an HDF5 file: a netCDF-3 (classic) file; only netCDF-4 files are HDF5 underneath "
           "(convert with: nccopy -k nc4 in.nc out.nc)";
  if (magic[0] == 'r' && magic[1] == 'o' && magic[2] == 'o' && magic[3] == 't') return "not an HDF5 file: a ROOT file";
  return "not an HDF5 file (another format, or an HDF5 file whose superblock is missing or truncated)";
}

}  // namespace

std::recursive_mutex& hdf5Mutex() {
  static std::recursive_mutex m;
  return m;
}

std::string hdf5ErrorStack() {
  Hdf5Lock lock;
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collectError, &s);
  H5Eclear2(H5E_DEFAULT);
  return s.empty() ? "no HDF5 error details" : s;
}

void silenceHdf5Errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

Hdf5Handle& Hdf5Handle::operator=(Hdf5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Hdf5Handle::reset() {
  if (id_ >= 0 && closer_) {
    Hdf5Lock lock;
    closer_(id_);
  }
  id_ = H5I_INVALID_HID;
}

#define KAON_H5_CHECK(expr, ...)                                                                 \
  do {                                                                                           \
    if ((expr) < 0) KAON_FAIL("{}: {} ({})", path_, fmt::format(__VA_ARGS__), hdf5ErrorStack()); \
  } while (0)

Hdf5File::Hdf5File(const std::string& path, Mode mode) : path_(path) {
  Hdf5Lock lock;
  silenceHdf5Errors();
  hid_t id;
  Hdf5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);  // outlives H5Fopen: closing it clears the error stack
  if (mode != Mode::Truncate) {
    std::error_code ec;
    KAON_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such file", path);
#if H5_VERSION_GE(1, 12, 0)
    htri_t isHdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
    htri_t isHdf5 = H5Fis_hdf5(path.c_str());
#endif
    if (isHdf5 < 0) KAON_FAIL("{}: {} ({})", path, describeNonHdf5(path), hdf5ErrorStack());
    if (isHdf5 == 0) KAON_FAIL("{}: {}", path, describeNonHdf5(path));
#if (H5_VERSION_GE(1, 10, 7) && !H5_VERSION_GE(1, 12, 0)) || H5_VERSION_GE(1, 12, 1)
    // Parallel file systems often have flock disabled; a reader needs no lock to succeed.
    H5Pset_file_locking(fapl.get(), true, true);
#endif
    id = H5Fopen(path.c_str(), mode == Mode::Read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl.get());
  } else {
    id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  }
  KAON_H5_CHECK(id, "cannot {} the file", mode == Mode::Truncate ? "create" : "open");
  file_ = Hdf5Handle(id, H5Fclose);
}

bool Hdf5File::exists(const std::string& objectPath) const {
  Hdf5Lock lock;
  // Check each prefix: H5Lexists fails (rather than answering no) when a parent is missing.
  std::size_t pos = 0;
  while ((pos = objectPath.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(id(), objectPath.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(id(), objectPath.c_str(), H5P_DEFAULT) > 0;
}

hid_t Hdf5File::ensureGroups(const std::string& objectPath) {
  Hdf5Lock lock;
  std::size_t pos = 0;
  while ((pos = objectPath.find('/', pos + 1)) != std::string::npos) {
    std::string group = objectPath.substr(0, pos);
    if (H5Lexists(id(), group.c_str(), H5P_DEFAULT) > 0) continue;
    Hdf5Handle g(H5Gcreate2(id(), group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    KAON_H5_CHECK(g.get(), "cannot create group {}", group);
  }
  return id();
}

void Hdf5File::writeTensor(const std::string& objectPath, const Tensor& t) {
  Hdf5Lock lock;
  KAON_CHECK(t.device().isCpu(), "{}: only CPU tensors can be written ({})", path_, objectPath);
  ensureGroups(objectPath);
  std::vector<hsize_t> dims(t.shape().dims().begin(), t.shape().dims().end());
  Hdf5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  KAON_H5_CHECK(space.get(), "cannot create dataspace for {}", objectPath);
  Hdf5Handle ds(H5Dcreate2(id(), objectPath.c_str(), nativeType(t.dtype()), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT),
                H5Dclose);
  KAON_H5_CHECK(ds.get(), "cannot create dataset {}", objectPath);
  if (t.numel() > 0)
    KAON_H5_CHECK(H5Dwrite(ds.get(), nativeType(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()), "cannot write {}",
                  objectPath);
}

std::vector<std::int64_t> Hdf5File::datasetShape(const std::string& objectPath) const {
  Hdf5Lock lock;
  KAON_CHECK(exists(objectPath), "{}: no dataset '{}'", path_, objectPath);
  Hdf5Handle ds(H5Dopen2(id(), objectPath.c_str(), H5P_DEFAULT), H5Dclose);
  KAON_H5_CHECK(ds.get(), "cannot open dataset {}", objectPath);
  Hdf5Handle space(H5Dget_space(ds.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  KAON_H5_CHECK(rank, "cannot read the shape of {}", objectPath);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

Tensor Hdf5File::readTensor(const std::string& objectPath, DType dtype) const {
  Hdf5Lock lock;
  std::vector<std::int64_t> dims = datasetShape(objectPath);
  KAON_CHECK(dims.size() <= static_cast<std::size_t>(Shape::kMaxRank), "{}: dataset '{}' has {} dimensions (max {})",
             path_, objectPath, dims.size(), Shape::kMaxRank);
  Tensor t = Tensor::empty(Shape(dims), dtype);
  Hdf5Handle ds(H5Dopen2(id(), objectPath.c_str(), H5P_DEFAULT), H5Dclose);
  KAON_H5_CHECK(ds.get(), "cannot open dataset {}", objectPath);
  if (t.numel() > 0)
    KAON_H5_CHECK(H5Dread(ds.get(), nativeType(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()), "cannot read {}",
                  objectPath);
  return t;
}

namespace {
template <class Write>
void withAttribute(hid_t file, const std::string& path, const std::string& objectPath, const std::string& name,
                   hid_t type, Write&& write) {
  Hdf5Handle obj(H5Oopen(file, objectPath.c_str(), H5P_DEFAULT), H5Oclose);
  if (obj.get() < 0) KAON_FAIL("{}: cannot open {} ({})", path, objectPath, hdf5ErrorStack());
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  Hdf5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Hdf5Handle attr(H5Acreate2(obj.get(), name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (attr.get() < 0 || write(attr.get()) < 0)
    KAON_FAIL("{}: cannot write attribute {} ({})", path, name, hdf5ErrorStack());
}
}  // namespace

void Hdf5File::writeAttribute(const std::string& name, std::int64_t value, const std::string& objectPath) {
  Hdf5Lock lock;
  withAttribute(id(), path_, objectPath, name, H5T_NATIVE_INT64,
                [&](hid_t a) { return H5Awrite(a, H5T_NATIVE_INT64, &value); });
}

void Hdf5File::writeAttribute(const std::string& name, double value, const std::string& objectPath) {
  Hdf5Lock lock;
  withAttribute(id(), path_, objectPath, name, H5T_NATIVE_DOUBLE,
                [&](hid_t a) { return H5Awrite(a, H5T_NATIVE_DOUBLE, &value); });
}

void Hdf5File::writeAttribute(const std::string& name, const std::string& value, const std::string& objectPath) {
  Hdf5Lock lock;
  // Variable-length UTF-8 string: what h5py writes for str attributes and reads back as str.
  Hdf5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const char* data = value.c_str();
  withAttribute(id(), path_, objectPath, name, type.get(), [&](hid_t a) { return H5Awrite(a, type.get(), &data); });
}

bool Hdf5File::hasAttribute(const std::string& name, const std::string& objectPath) const {
  Hdf5Lock lock;
  return H5Aexists_by_name(id(), objectPath.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

namespace {
Hdf5Handle openAttribute(hid_t file, const std::string& path, const std::string& objectPath, const std::string& name) {
  Hdf5Handle attr(H5Aopen_by_name(file, objectPath.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (attr.get() < 0) KAON_FAIL("{}: missing attribute '{}' on {} ({})", path, name, objectPath, hdf5ErrorStack());
  return attr;
}
}  // namespace

std::int64_t Hdf5File::readIntAttribute(const std::string& name, const std::string& objectPath) const {
  Hdf5Lock lock;
  Hdf5Handle a = openAttribute(id(), path_, objectPath, name);
  std::int64_t v = 0;
  KAON_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, &v), "cannot read attribute {}", name);
  return v;
}

double Hdf5File::readDoubleAttribute(const std::string& name, const std::string& objectPath) const {
  Hdf5Lock lock;
  Hdf5Handle a = openAttribute(id(), path_, objectPath, name);
  double v = 0;
  KAON_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v), "cannot read attribute {}", name);
  return v;
}

std::string Hdf5File::readStringAttribute(const std::string& name, const std::string& objectPath) const {
  Hdf5Lock lock;
  Hdf5Handle a = openAttribute(id(), path_, objectPath, name);
  Hdf5Handle type(H5Aget_type(a.get()), H5Tclose);
  KAON_CHECK(H5Tget_class(type.get()) == H5T_STRING, "{}: attribute '{}' is not a string", path_, name);
  if (H5Tis_variable_str(type.get()) > 0) {
    Hdf5Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* data = nullptr;
    KAON_H5_CHECK(H5Aread(a.get(), mem.get(), &data), "cannot read attribute {}", name);
    std::string s = data ? data : "";
    Hdf5Handle space(H5Aget_space(a.get()), H5Sclose);
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &data);
    return s;
  }
  std::string s(H5Tget_size(type.get()), '\0');
  KAON_H5_CHECK(H5Aread(a.get(), type.get(), s.data()), "cannot read attribute {}", name);
  return s.substr(0, s.find('\0'));
}

void Hdf5File::flush() {
  Hdf5Lock lock;
  KAON_H5_CHECK(H5Fflush(id(), H5F_SCOPE_GLOBAL), "cannot flush");
}

}  // namespace kaon::io
