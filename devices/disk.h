// Where a block device's bytes live: a raw image file (FileDisk), or a
// throwaway copy-on-write view of one (SnapshotDisk). open_disk() turns the
// command line's disk options into one of them.
//
// Capacity: a disk is a whole number of 512-byte sectors. An image whose size
// is not a multiple of 512 is rounded down; its last few bytes are invisible
// to the guest and never written. An image smaller than one sector is
// refused.
//
// Locking: an open disk holds flock() on its image, shared when read-only or
// snapshot, exclusive when writable, so that two VMs never write one image
// (or read it while another writes). Filesystems without flock are used
// unlocked.
//
// Backends are used by one thread at a time (their device's worker).
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun::devices {

constexpr uint64_t kSectorSize = 512;

class DiskBackend {
 public:
  virtual ~DiskBackend() = default;

  virtual uint64_t size() const = 0;  // bytes, a multiple of kSectorSize
  virtual bool read_only() const = 0;
  // Whether discard() and write_zeroes() are cheap (holes rather than
  // written zeros); virtio-blk offers DISCARD and WRITE_ZEROES only then.
  virtual bool can_punch_holes() const = 0;

  // Every call fails for a range not inside [0, size()), and every
  // modifying call fails on a read-only disk.
  virtual Result<void> read_at(uint64_t offset, std::span<uint8_t> out) = 0;
  virtual Result<void> write_at(uint64_t offset,
                                std::span<const uint8_t> data) = 0;
  // Scatter/gather: the buffers are consecutive on the disk. The default
  // loops over read_at/write_at.
  virtual Result<void> read_vec(uint64_t offset,
                                std::span<const std::span<uint8_t>> bufs);
  virtual Result<void> write_vec(
      uint64_t offset, std::span<const std::span<const uint8_t>> bufs);
  // Data written so far survives a host crash (where the backend persists).
  virtual Result<void> flush() = 0;
  // Deallocates the range; it reads as zeros afterwards.
  virtual Result<void> discard(uint64_t offset, uint64_t len) = 0;
  // The range reads as zeros afterwards; its storage stays allocated where
  // the filesystem can do that.
  virtual Result<void> write_zeroes(uint64_t offset, uint64_t len) = 0;
};

// A raw image file (O_RDWR, or O_RDONLY when read-only). flush() is
// fdatasync(), so what the guest flushed survives a host crash. discard and
// write_zeroes use fallocate() and fall back to writing zeros.
class FileDisk : public DiskBackend {
 public:
  // Errors are one line naming the disk: "disk 'x': No such file or
  // directory", "... is in use by another process", ...
  static Result<std::unique_ptr<FileDisk>> open(const std::string& path,
                                                bool read_only);

  uint64_t size() const override { return size_; }
  bool read_only() const override { return read_only_; }
  bool can_punch_holes() const override { return punch_holes_; }
  Result<void> read_at(uint64_t offset, std::span<uint8_t> out) override;
  Result<void> write_at(uint64_t offset,
                        std::span<const uint8_t> data) override;
  Result<void> read_vec(uint64_t offset,
                        std::span<const std::span<uint8_t>> bufs) override;
  Result<void> write_vec(
      uint64_t offset, std::span<const std::span<const uint8_t>> bufs) override;
  Result<void> flush() override;
  Result<void> discard(uint64_t offset, uint64_t len) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t len) override;

  const std::string& path() const { return path_; }

 private:
  FileDisk(std::string path, UniqueFd fd, uint64_t size, bool read_only,
           bool punch_holes)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        size_(size),
        read_only_(read_only),
        punch_holes_(punch_holes) {}
  Result<void> check_write(uint64_t offset, uint64_t len) const;

  std::string path_;
  UniqueFd fd_;
  uint64_t size_;
  bool read_only_;
  bool punch_holes_;
  bool zero_range_ = true;  // until FALLOC_FL_ZERO_RANGE says otherwise
};

// Copy-on-write over a read-only base image: the guest's writes go to an
// overlay, an unnamed sparse file in a temporary directory ($TMPDIR, else
// /tmp; mind that a tmpfs there holds the overlay in RAM), tracked in 4 KiB
// blocks. The overlay has no name and vanishes when the disk is destroyed
// (or vmrun dies); the base file is never written. flush() does nothing:
// snapshot data does not outlive the VM anyway.
class SnapshotDisk : public DiskBackend {
 public:
  static constexpr uint64_t kBlockSize = 4096;

  // `base` should be opened read-only. `tmp_dir` empty: $TMPDIR or /tmp.
  static Result<std::unique_ptr<SnapshotDisk>> create(
      std::unique_ptr<FileDisk> base, std::string tmp_dir = "");

  uint64_t size() const override { return base_->size(); }
  bool read_only() const override { return false; }
  bool can_punch_holes() const override { return punch_holes_; }
  Result<void> read_at(uint64_t offset, std::span<uint8_t> out) override;
  Result<void> write_at(uint64_t offset,
                        std::span<const uint8_t> data) override;
  Result<void> flush() override { return ok(); }
  Result<void> discard(uint64_t offset, uint64_t len) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t len) override;

  // Blocks that live in the overlay (for tests and statistics).
  uint64_t overlay_blocks() const { return overlay_blocks_; }

 private:
  // One bitmap leaf covers 128 MiB of disk, allocated on first write, so
  // a large image costs nothing until it is written.
  static constexpr uint64_t kLeafBlocks = 1u << 15;
  using Leaf = std::bitset<kLeafBlocks>;

  SnapshotDisk(std::unique_ptr<FileDisk> base, UniqueFd overlay,
               bool punch_holes);
  bool present(uint64_t block) const;
  void mark(uint64_t first_block, uint64_t last_block);
  // Copies the base's part of each not-yet-copied block that [offset,
  // offset + len) covers only partly, so a later read of it is whole.
  Result<void> copy_partial_edges(uint64_t offset, uint64_t len);
  Result<void> zero(uint64_t offset, uint64_t len);

  std::unique_ptr<FileDisk> base_;
  UniqueFd overlay_;
  bool punch_holes_;
  std::vector<std::unique_ptr<Leaf>> leaves_;
  uint64_t overlay_blocks_ = 0;
};

struct DiskOptions {
  std::string path;
  bool read_only = false;  // the guest may not write (virtio-blk RO)
  bool snapshot = false;   // the guest writes to a throwaway overlay
};

// read_only wins over snapshot (nothing to throw away).
Result<std::unique_ptr<DiskBackend>> open_disk(const DiskOptions& options);

}  // namespace vmrun::devices
