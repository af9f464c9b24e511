/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * edu_ioctl.h: the ioctl interface of /dev/edu, the driver for QEMU's "edu"
 * teaching PCI device (edu.c). Shared by the kernel module and userspace
 * (edu-check.c), so it uses only the kernel's uapi types.
 *
 * All ioctls are serialized per device: one command runs at a time, the
 * others wait. Each command that needs an interrupt waits for it for about
 * two seconds and fails with ETIMEDOUT if it does not come. A command whose
 * previous run was cut short (timeout, signal) while the device is still busy
 * fails with EBUSY until the device is idle again.
 */
#ifndef EDU_IOCTL_H
#define EDU_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define EDU_DEVICE_PATH "/dev/edu"

/* Size of the device-side DMA buffer: the most one EDU_IOC_DMA can move. */
#define EDU_DMA_MAX 4096

/* How the device's interrupt reaches the CPU (edu_info.irq_kind). */
#define EDU_IRQ_INTX 1 /* legacy pin interrupt, possibly shared */
#define EDU_IRQ_MSI 2  /* message-signalled interrupt */

/* EDU_IOC_INFO: identity and state of the device. */
struct edu_info {
	__u32 id;         /* out: ID register (0x010000ed for edu v1.0) */
	__u32 live_in;    /* in: pattern written to the liveness register */
	__u32 live_out;   /* out: what it read back: ~live_in if alive */
	__u32 irq_kind;   /* out: EDU_IRQ_MSI or EDU_IRQ_INTX */
	__u64 irq_count;  /* out: interrupts handled since probe */
};

/* EDU_IOC_FACT: the device computes n! (modulo 2^32), signalled by IRQ. */
struct edu_fact {
	__u32 n;          /* in */
	__u32 result;     /* out */
};

/*
 * EDU_IOC_DMA: a round trip through the device's DMA buffer. The driver
 * copies len bytes from src into host memory, has the device DMA them into
 * its own buffer, then DMA them back into other (cleared) host memory, and
 * copies that to dst. src and dst are user pointers; they may be equal.
 * The driver moves at most EDU_DMA_MAX / 2 bytes per DMA (see edu.c: older
 * QEMUs abort on a DMA that reaches the end of the device's buffer), so a
 * full EDU_DMA_MAX takes two rounds: four DMAs, four interrupts.
 */
struct edu_dma {
	__u64 src;        /* in: user address of len bytes to send */
	__u64 dst;        /* in: user address receiving len bytes */
	__u32 len;        /* in: 1..EDU_DMA_MAX */
	__u32 reserved;   /* must be 0 */
};

/* EDU_IOC_RAISE: make the device raise an interrupt with a chosen value. */
struct edu_raise {
	__u32 value;      /* in: nonzero bits for the IRQ status register */
	__u32 status;     /* out: the IRQ status bits the handler saw */
};

#define EDU_IOC_MAGIC 'E'
#define EDU_IOC_INFO  _IOWR(EDU_IOC_MAGIC, 1, struct edu_info)
#define EDU_IOC_FACT  _IOWR(EDU_IOC_MAGIC, 2, struct edu_fact)
#define EDU_IOC_DMA   _IOW(EDU_IOC_MAGIC, 3, struct edu_dma)
#define EDU_IOC_RAISE _IOWR(EDU_IOC_MAGIC, 4, struct edu_raise)

#endif /* EDU_IOCTL_H */
