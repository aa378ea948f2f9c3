# System libraries Kaon builds on. scripts/setup.sh installs them on Debian 12 / Ubuntu 24.04.
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 QUIET CONFIG)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()

# yaml-cpp names its target differently across versions.
if(TARGET yaml-cpp::yaml-cpp)
  set(KAON_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(KAON_YAML_TARGET yaml-cpp)
endif()

# CUDA: AUTO builds the backend when a toolkit is found (CI machines have one but no GPU).
set(KAON_HAS_CUDA OFF)
set(KAON_HAS_NCCL OFF)
if(NOT KAON_WITH_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(KAON_HAS_CUDA ON)
    # cuDNN has no CMake package: look for its header and library beside the toolkit, then in
    # the system paths (pip/apt layouts). CUDNN_ROOT may point elsewhere.
    find_path(CUDNN_INCLUDE_DIR cudnn.h
      HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
      PATH_SUFFIXES include include/x86_64-linux-gnu)
    find_library(CUDNN_LIBRARY cudnn
      HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
      PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)
    if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
      message(FATAL_ERROR "CUDA backend: cuDNN not found (cudnn.h: ${CUDNN_INCLUDE_DIR}, libcudnn: ${CUDNN_LIBRARY}); "
                          "set CUDNN_ROOT or configure with -DKAON_WITH_CUDA=OFF")
    endif()
    message(STATUS "Kaon: cuDNN ${CUDNN_LIBRARY}")
    # NCCL, the same way (beside the toolkit, then the system paths; NCCL_ROOT overrides).
    # Optional under AUTO: without it the NCCL communicator throws NotImplemented and GPU
    # buffers go through MPI with host staging.
    if(NOT KAON_WITH_NCCL STREQUAL "OFF")
      find_path(NCCL_INCLUDE_DIR nccl.h
        HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
        PATH_SUFFIXES include include/x86_64-linux-gnu)
      find_library(NCCL_LIBRARY nccl
        HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
        PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)
      if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
        set(KAON_HAS_NCCL ON)
        message(STATUS "Kaon: NCCL ${NCCL_LIBRARY}")
      elseif(KAON_WITH_NCCL STREQUAL "ON")
        message(FATAL_ERROR "KAON_WITH_NCCL=ON but NCCL was not found (nccl.h: ${NCCL_INCLUDE_DIR}, libnccl: "
                            "${NCCL_LIBRARY}); set NCCL_ROOT")
      endif()
    endif()
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "52")
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    set(CMAKE_CUDA_STANDARD 17)  # CMake < 3.26 knows no CUDA20 for nvcc; kernels need only C++17
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  elseif(KAON_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KAON_WITH_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
if(KAON_WITH_NCCL STREQUAL "ON" AND NOT KAON_HAS_CUDA)
  message(FATAL_ERROR "KAON_WITH_NCCL=ON needs the CUDA backend")
endif()
message(STATUS "Kaon: CUDA backend ${KAON_HAS_CUDA}, NCCL ${KAON_HAS_NCCL}")
