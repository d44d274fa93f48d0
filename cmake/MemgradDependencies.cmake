# Finds every dependency and records what is missing for the configure banner.
set(MEMGRAD_MISSING "")

# A folder holding Debian packages unpacked with `dpkg -x` (scripts/gpu_check.sh on a machine
# that has no registry to install from): searched before the system.
set(MEMGRAD_DEPS_ROOT "" CACHE PATH "Folder with Debian packages unpacked by dpkg -x, searched first")
if(MEMGRAD_DEPS_ROOT)
  list(PREPEND CMAKE_PREFIX_PATH ${MEMGRAD_DEPS_ROOT}/usr)
endif()

# fmt: error messages and printing. nlohmann_json: checkpoints (safetensors headers) and results.
find_package(fmt REQUIRED)
find_package(nlohmann_json QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "memgrad needs nlohmann-json: apt-get install nlohmann-json3-dev")
endif()

# OpenBLAS. Debian ships a pthread and an OpenMP build; prefer the OpenMP one so that a BLAS
# call made inside one of our OpenMP regions runs single-threaded instead of oversubscribing.
set(BLA_VENDOR OpenBLAS)
set(MEMGRAD_OPENBLAS_VARIANT "openblas-openmp" CACHE STRING "Debian OpenBLAS variant folder to prefer")
foreach(dir /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/${MEMGRAD_OPENBLAS_VARIANT}
            ${MEMGRAD_DEPS_ROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/${MEMGRAD_OPENBLAS_VARIANT})
  if(EXISTS ${dir})
    list(PREPEND CMAKE_LIBRARY_PATH ${dir})
  endif()
endforeach()
find_package(BLAS)
find_path(MEMGRAD_CBLAS_INCLUDE_DIR cblas.h
  PATHS ${MEMGRAD_DEPS_ROOT}/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/${MEMGRAD_OPENBLAS_VARIANT}
        /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/${MEMGRAD_OPENBLAS_VARIANT}
        /usr/include/${CMAKE_LIBRARY_ARCHITECTURE} /usr/include/openblas /usr/include
  NO_DEFAULT_PATH)
if(NOT BLAS_FOUND OR NOT MEMGRAD_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "memgrad needs OpenBLAS: apt-get install libopenblas-openmp-dev")
endif()

find_package(OpenMP REQUIRED COMPONENTS CXX)

if(MEMGRAD_TESTS)
  find_package(doctest QUIET)
  if(NOT doctest_FOUND)
    message(WARNING "doctest not found (apt-get install doctest-dev): tests disabled")
    set(MEMGRAD_TESTS OFF)
    list(APPEND MEMGRAD_MISSING "doctest (doctest-dev)")
  endif()
endif()

# Python extension: an interpreter with its headers, and pybind11 (pip's, found through
# `python -m pybind11`, or Debian's pybind11-dev).
if(MEMGRAD_PYTHON)
  set(PYBIND11_FINDPYTHON ON)
  find_package(Python 3.9 REQUIRED COMPONENTS Interpreter Development.Module)
  execute_process(COMMAND ${Python_EXECUTABLE} -m pybind11 --cmakedir OUTPUT_VARIABLE MEMGRAD_PYBIND11_HINT
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  find_package(pybind11 2.10 CONFIG REQUIRED HINTS ${MEMGRAD_PYBIND11_HINT})
endif()

# CUDA: AUTO turns it on when the toolkit is found.
set(MEMGRAD_HAVE_CUDA OFF)
if(NOT MEMGRAD_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES 90)
      endif()
      enable_language(CUDA)
      set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no C++20 mode for nvcc; the .cu files are C++17
      set(CMAKE_CUDA_EXTENSIONS OFF)
      set(MEMGRAD_HAVE_CUDA ON)
    endif()
  endif()
  if(NOT MEMGRAD_HAVE_CUDA)
    if(MEMGRAD_CUDA STREQUAL "ON")
      message(FATAL_ERROR "MEMGRAD_CUDA=ON but no CUDA toolkit was found (install nvidia-cuda-toolkit)")
    endif()
    list(APPEND MEMGRAD_MISSING "CUDA toolkit (nvidia-cuda-toolkit): CPU-only build")
  endif()
endif()

# MPI (Open MPI from Debian: libopenmpi-dev openmpi-bin) for memgrad::dist; without it dist is a
# world of one process. The C API only, through the CXX component (the project enables no C
# compiler); MPI_CXX_SKIP_MPICXX leaves out the deprecated C++ bindings.
set(MEMGRAD_HAVE_MPI OFF)
if(NOT MEMGRAD_MPI STREQUAL "OFF")
  set(MPI_CXX_SKIP_MPICXX ON)
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(MEMGRAD_HAVE_MPI ON)
  elseif(MEMGRAD_MPI STREQUAL "ON")
    message(FATAL_ERROR "MEMGRAD_MPI=ON but no MPI was found (apt-get install libopenmpi-dev openmpi-bin)")
  else()
    list(APPEND MEMGRAD_MISSING "MPI (libopenmpi-dev openmpi-bin): memgrad::dist is a world of one process")
  endif()
endif()

# No FP traps or errno from math functions: lets loops with comparisons and exp/sqrt vectorise.
# Results are unchanged (no reassociation, unlike -ffast-math).
set(MEMGRAD_CXX_FLAGS $<$<COMPILE_LANGUAGE:CXX>:-Wall> $<$<COMPILE_LANGUAGE:CXX>:-Wextra>
  $<$<COMPILE_LANGUAGE:CXX>:-Wno-unused-parameter> $<$<COMPILE_LANGUAGE:CXX>:-Wno-missing-field-initializers>
  $<$<COMPILE_LANGUAGE:CXX>:-fno-trapping-math> $<$<COMPILE_LANGUAGE:CXX>:-fno-math-errno>)
if(MEMGRAD_NATIVE)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native MEMGRAD_HAS_MARCH_NATIVE)
  if(MEMGRAD_HAS_MARCH_NATIVE)
    list(APPEND MEMGRAD_CXX_FLAGS $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endif()
