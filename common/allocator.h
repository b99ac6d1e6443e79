// Process-wide allocator settings for the binaries that run the model.
//
// LibTorch allocates and frees the activations of every batch and learner
// step; tensors over glibc's dynamic mmap threshold (at most 32 MiB, often
// far less) are mapped fresh each time and their pages faulted in again: a
// tenth of a StreamFeedback replay's CPU time went to page faults in the
// kernel. Keeping such blocks in the heap reuses their pages; memory held
// stays bounded by the peak of one batch and one step.
#ifndef RTREC_COMMON_ALLOCATOR_H_
#define RTREC_COMMON_ALLOCATOR_H_

#include <malloc.h>

namespace rtrec {

inline void KeepTensorPagesMapped() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

}  // namespace rtrec

#endif  // RTREC_COMMON_ALLOCATOR_H_
