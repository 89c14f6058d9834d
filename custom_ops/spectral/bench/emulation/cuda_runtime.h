// A CPU emulation of the small part of the CUDA runtime that the
// spectral_mul kernel and its checks use, so that the very kernel code of
// cc/kernels/spectral_mul_gpu.cu.h runs, and is checked, on a machine
// without a GPU (`make -C custom_ops/spectral/bench emulate`). Put this
// directory first on the include path: it stands in for <cuda_runtime.h>.
//
// Hand-written because no CPU runtime for CUDA C++ is packaged here. A
// launch runs the blocks one after another; the threads of a block are
// fibers (ucontext) on one OS thread that switch only at __syncthreads(),
// which is where CUDA threads may observe each other's shared-memory writes,
// so races that a barrier orders are reproduced faithfully. A block whose
// threads do not all reach the same __syncthreads() aborts, as a divergent
// barrier is undefined behaviour on a GPU. Not emulated: warps, memory
// ordering without barriers, and fresh (uninitialised) shared memory per
// block: __shared__ arrays are function statics that keep the previous
// block's values.
#ifndef TFCOMPRESS_BENCH_EMULATION_CUDA_RUNTIME_H_
#define TFCOMPRESS_BENCH_EMULATION_CUDA_RUNTIME_H_

#include <ucontext.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1)
      : x(x_), y(y_), z(z_) {}
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
};
typedef struct EmulatedStream* cudaStream_t;

inline const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unknown error";
}

// Memory: the "device" is the host heap; launches are synchronous.
inline cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  *ptr = std::malloc(bytes);
  return *ptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes,
                              cudaMemcpyKind) {
  if (bytes) std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

// The built-in index variables of the running emulated thread.
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace cuda_emulation {

constexpr size_t kStackBytes = 64 * 1024;

// Fibers of the block being run, and the scheduler's context.
struct Block {
  std::function<void()> body;  // the kernel call with its arguments
  std::vector<ucontext_t> fibers;
  std::vector<std::vector<char>> stacks;
  std::vector<char> finished;
  ucontext_t scheduler;
  size_t current = 0;
};
inline Block* running = nullptr;

inline void FiberMain() {
  running->body();
  running->finished[running->current] = 1;
  // Returning resumes uc_link, the scheduler.
}

// Runs one block: every thread until its next __syncthreads() (or its end),
// round after round, until all have ended.
inline void RunBlock(Block& block, unsigned threads) {
  block.fibers.resize(threads);
  block.stacks.resize(threads);
  block.finished.assign(threads, 0);
  for (unsigned t = 0; t < threads; ++t) {
    block.stacks[t].resize(kStackBytes);
    getcontext(&block.fibers[t]);
    block.fibers[t].uc_stack.ss_sp = block.stacks[t].data();
    block.fibers[t].uc_stack.ss_size = kStackBytes;
    block.fibers[t].uc_link = &block.scheduler;
    makecontext(&block.fibers[t], FiberMain, 0);
  }
  for (bool all_finished = false; !all_finished;) {
    size_t done = 0;
    for (unsigned t = 0; t < threads; ++t) {
      block.current = t;
      threadIdx = {t % blockDim.x, t / blockDim.x % blockDim.y,
                   t / (blockDim.x * blockDim.y)};
      swapcontext(&block.scheduler, &block.fibers[t]);
      done += block.finished[t];
    }
    if (done != 0 && done != threads) {
      std::fprintf(stderr,
                   "emulation: %zu of %u threads of block (%u, %u, %u) ended "
                   "while the others wait at __syncthreads()\n",
                   done, threads, blockIdx.x, blockIdx.y, blockIdx.z);
      std::abort();
    }
    all_finished = done == threads;
  }
}

template <typename... Args, size_t... I>
std::function<void()> BindArguments(void (*kernel)(Args...), void** args,
                                    std::index_sequence<I...>) {
  return [kernel, args] { kernel(*static_cast<Args*>(args[I])...); };
}

}  // namespace cuda_emulation

inline void __syncthreads() {
  cuda_emulation::Block& block = *cuda_emulation::running;
  swapcontext(&block.fibers[block.current], &block.scheduler);
}

// The runtime API's launch (the template overload of cuda_runtime.h):
// validates the configuration like a GPU with compute capability >= 8.0,
// then runs the grid before returning.
template <typename... Args>
cudaError_t cudaLaunchKernel(void (*kernel)(Args...), dim3 grid, dim3 block,
                             void** args, size_t shared_bytes = 0,
                             cudaStream_t stream = nullptr) {
  (void)stream;
  const unsigned long threads =
      static_cast<unsigned long>(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 ||
      grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 ||
      shared_bytes != 0) {
    return cudaErrorInvalidConfiguration;
  }
  cuda_emulation::Block state;
  state.body = cuda_emulation::BindArguments(
      kernel, args, std::index_sequence_for<Args...>());
  cuda_emulation::running = &state;
  gridDim = grid;
  blockDim = block;
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = {x, y, z};
        cuda_emulation::RunBlock(state, static_cast<unsigned>(threads));
      }
    }
  }
  cuda_emulation::running = nullptr;
  return cudaSuccess;
}

#endif  // TFCOMPRESS_BENCH_EMULATION_CUDA_RUNTIME_H_
