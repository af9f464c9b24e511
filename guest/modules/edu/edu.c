// SPDX-License-Identifier: GPL-2.0
/*
 * edu: a driver for QEMU's "edu" teaching PCI device (1234:11e8), used by
 * vmrun as the instrument of its PCI passthrough tests. It exercises what a
 * real instrument driver needs: MMIO registers, an interrupt (MSI if the
 * platform gives one, else INTx), and DMA in both directions. Userspace
 * drives it through /dev/edu with the ioctls in edu_ioctl.h.
 *
 * Locking: edu->lock (a mutex) serializes commands, so at most one command
 * owns the device and waits for its interrupt; edu->irq_lock (a spinlock)
 * guards what the interrupt handler records for that waiter.
 */
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kref.h>
#include <linux/minmax.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "edu_ioctl.h"

#define EDU_VENDOR_ID 0x1234
#define EDU_DEVICE_ID 0x11e8

/* Registers in BAR0. */
#define EDU_REG_ID         0x00  /* 0xRRrr00ed: major, minor, 0xed */
#define EDU_REG_LIVENESS   0x04  /* reads back the inverse of what was written */
#define EDU_REG_FACT       0x08  /* write n, read n! once not computing */
#define EDU_REG_STATUS     0x20
#define   EDU_STATUS_COMPUTING 0x01  /* factorial in progress (read-only) */
#define   EDU_STATUS_IRQFACT   0x80  /* raise EDU_IRQ_FACT when done */
#define EDU_REG_IRQ_STATUS 0x24  /* bits of the raised interrupt(s) */
#define EDU_REG_IRQ_RAISE  0x60  /* write bits: raise an interrupt with them */
#define EDU_REG_IRQ_ACK    0x64  /* write bits: clear them */
#define EDU_REG_DMA_SRC    0x80  /* 64-bit */
#define EDU_REG_DMA_DST    0x88  /* 64-bit */
#define EDU_REG_DMA_COUNT  0x90  /* 64-bit */
#define EDU_REG_DMA_CMD    0x98  /* 64-bit */
#define   EDU_DMA_START        0x1   /* set to start; clears when done */
#define   EDU_DMA_TO_RAM       0x2   /* 0: RAM -> device, 1: device -> RAM */
#define   EDU_DMA_IRQ          0x4   /* raise EDU_IRQ_DMA when done */

/* IRQ status values the device raises by itself. */
#define EDU_IRQ_FACT 0x001
#define EDU_IRQ_DMA  0x100

/* The device's own DMA buffer, in its DMA address space. */
#define EDU_DEV_BUF 0x40000

/*
 * The most one DMA moves. The buffer holds EDU_DMA_MAX bytes, but QEMU
 * before 8.0 (Debian 12 has 7.2) wrongly refuses a transfer that reaches
 * its last byte, and refuses it with hw_error(): QEMU aborts and the whole
 * VM is gone (QEMU issue 1254). So a transfer goes in halves, each through
 * the start of the device's buffer; that works on every QEMU.
 */
#define EDU_DMA_CHUNK (EDU_DMA_MAX / 2)

/*
 * How long a command waits for its interrupt. The device finishes a DMA
 * about 100 ms (virtual time) after it is started; two seconds leave room
 * for a slow, emulated machine.
 */
#define EDU_IRQ_TIMEOUT (2 * HZ)

struct edu_dev {
	struct kref ref;          /* probe + each open file */
	struct pci_dev *pdev;
	void __iomem *regs;
	struct miscdevice misc;
	bool msi;

	struct mutex lock;        /* one command at a time; guards gone */
	bool gone;                /* removed: open files get -ENODEV */

	/*
	 * Two coherent buffers, allocated once at probe and kept until remove:
	 * a DMA cut short by a timeout or a signal may still land in them
	 * later, which must never hit memory that was freed meanwhile.
	 */
	void *to_dev;             /* RAM -> device source */
	dma_addr_t to_dev_dma;
	void *from_dev;           /* device -> RAM destination */
	dma_addr_t from_dev_dma;

	spinlock_t irq_lock;      /* guards the three below */
	u32 irq_pending;          /* status bits seen since the waiter armed */
	u32 irq_last;             /* status of the latest interrupt */
	u64 irq_count;            /* interrupts handled */
	wait_queue_head_t irq_wait;
};

/* Only one device gets /dev/edu: a second one is refused at probe. */
static atomic_t edu_claimed = ATOMIC_INIT(0);

static u32 edu_read(struct edu_dev *edu, unsigned int reg)
{
	return ioread32(edu->regs + reg);
}

static void edu_write(struct edu_dev *edu, unsigned int reg, u32 val)
{
	iowrite32(val, edu->regs + reg);
}

/* The DMA registers are 64 bits wide; the device takes 8-byte writes. */
static void edu_write64(struct edu_dev *edu, unsigned int reg, u64 val)
{
	writeq(val, edu->regs + reg);
}

static irqreturn_t edu_irq(int irq, void *data)
{
	struct edu_dev *edu = data;
	u32 status = edu_read(edu, EDU_REG_IRQ_STATUS);

	/* Nothing raised: with a shared INTx line it was another device's. */
	if (!status)
		return IRQ_NONE;

	/*
	 * Acknowledge exactly the bits seen: with INTx the line stays asserted
	 * until all of them are clear, and a bit raised after the read stays
	 * set and brings us back here.
	 */
	edu_write(edu, EDU_REG_IRQ_ACK, status);

	spin_lock(&edu->irq_lock);
	edu->irq_pending |= status;
	edu->irq_last = status;
	edu->irq_count++;
	spin_unlock(&edu->irq_lock);

	wake_up(&edu->irq_wait);
	return IRQ_HANDLED;
}

/*
 * Forget stale interrupt bits before starting a command that will raise
 * @bits, so that only an interrupt caused by this command can satisfy the
 * wait (a late one from an earlier, interrupted command cannot).
 */
static void edu_arm(struct edu_dev *edu, u32 bits)
{
	spin_lock_irq(&edu->irq_lock);
	edu->irq_pending &= ~bits;
	spin_unlock_irq(&edu->irq_lock);
}

/* If any of @bits arrived, consumes them and returns the pending status. */
static bool edu_take(struct edu_dev *edu, u32 bits, u32 *seen)
{
	bool got;

	spin_lock_irq(&edu->irq_lock);
	got = edu->irq_pending & bits;
	if (got) {
		*seen = edu->irq_pending;
		edu->irq_pending = 0;
	}
	spin_unlock_irq(&edu->irq_lock);
	return got;
}

/*
 * Waits for an interrupt carrying any of @bits. Returns 0, -ETIMEDOUT, or
 * -EINTR on a signal. Not -ERESTARTSYS: a restarted command would find the
 * device still busy with the first attempt.
 */
static int edu_wait(struct edu_dev *edu, u32 bits, u32 *seen)
{
	u32 dummy;
	long left;

	if (!seen)
		seen = &dummy;
	left = wait_event_interruptible_timeout(edu->irq_wait,
						edu_take(edu, bits, seen),
						EDU_IRQ_TIMEOUT);
	if (left > 0)
		return 0;
	if (left == 0)
		return -ETIMEDOUT;
	return -EINTR;
}

static int edu_cmd_info(struct edu_dev *edu, struct edu_info *info)
{
	info->id = edu_read(edu, EDU_REG_ID);
	edu_write(edu, EDU_REG_LIVENESS, info->live_in);
	info->live_out = edu_read(edu, EDU_REG_LIVENESS);
	info->irq_kind = edu->msi ? EDU_IRQ_MSI : EDU_IRQ_INTX;
	spin_lock_irq(&edu->irq_lock);
	info->irq_count = edu->irq_count;
	spin_unlock_irq(&edu->irq_lock);
	return 0;
}

static int edu_cmd_fact(struct edu_dev *edu, struct edu_fact *fact)
{
	int err;

	/* The device ignores a new n while it is still computing. */
	if (edu_read(edu, EDU_REG_STATUS) & EDU_STATUS_COMPUTING)
		return -EBUSY;

	edu_arm(edu, EDU_IRQ_FACT);
	/* Ask for the interrupt before starting, so it cannot be missed. */
	edu_write(edu, EDU_REG_STATUS, EDU_STATUS_IRQFACT);
	edu_write(edu, EDU_REG_FACT, fact->n);
	err = edu_wait(edu, EDU_IRQ_FACT, NULL);
	if (err)
		return err;
	fact->result = edu_read(edu, EDU_REG_FACT);
	return 0;
}

/* One DMA transfer of @len bytes with completion by interrupt. */
static int edu_dma_one(struct edu_dev *edu, u64 src, u64 dst, u32 len, u64 dir)
{
	edu_arm(edu, EDU_IRQ_DMA);
	edu_write64(edu, EDU_REG_DMA_SRC, src);
	edu_write64(edu, EDU_REG_DMA_DST, dst);
	edu_write64(edu, EDU_REG_DMA_COUNT, len);
	edu_write64(edu, EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_IRQ | dir);
	return edu_wait(edu, EDU_IRQ_DMA, NULL);
}

static int edu_cmd_dma(struct edu_dev *edu, const struct edu_dma *req)
{
	u32 off, n;
	int err;

	if (req->len == 0 || req->len > EDU_DMA_MAX || req->reserved)
		return -EINVAL;
	/* The device ignores writes to its DMA registers while one runs. */
	if (readq(edu->regs + EDU_REG_DMA_CMD) & EDU_DMA_START)
		return -EBUSY;

	if (copy_from_user(edu->to_dev, u64_to_user_ptr(req->src), req->len))
		return -EFAULT;
	/* Cleared first, so stale data cannot pass for a working transfer. */
	memset(edu->from_dev, 0, EDU_DMA_MAX);

	/* Each chunk: RAM -> device buffer, then device buffer -> other RAM. */
	for (off = 0; off < req->len; off += n) {
		n = min_t(u32, req->len - off, EDU_DMA_CHUNK);
		err = edu_dma_one(edu, edu->to_dev_dma + off, EDU_DEV_BUF, n, 0);
		if (err)
			return err;
		err = edu_dma_one(edu, EDU_DEV_BUF, edu->from_dev_dma + off, n,
				  EDU_DMA_TO_RAM);
		if (err)
			return err;
	}

	if (copy_to_user(u64_to_user_ptr(req->dst), edu->from_dev, req->len))
		return -EFAULT;
	return 0;
}

static int edu_cmd_raise(struct edu_dev *edu, struct edu_raise *raise)
{
	/* The device raises nothing for 0: the wait could only time out. */
	if (!raise->value)
		return -EINVAL;
	edu_arm(edu, raise->value);
	edu_write(edu, EDU_REG_IRQ_RAISE, raise->value);
	return edu_wait(edu, raise->value, &raise->status);
}

static long edu_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct edu_dev *edu = file->private_data;
	void __user *uarg = (void __user *)arg;
	union {
		struct edu_info info;
		struct edu_fact fact;
		struct edu_dma dma;
		struct edu_raise raise;
	} u;
	size_t size = _IOC_SIZE(cmd);
	long err;

	switch (cmd) {
	case EDU_IOC_INFO:
	case EDU_IOC_FACT:
	case EDU_IOC_DMA:
	case EDU_IOC_RAISE:
		break;
	default:
		return -ENOTTY;
	}
	if (copy_from_user(&u, uarg, size))
		return -EFAULT;

	if (mutex_lock_interruptible(&edu->lock))
		return -EINTR;
	if (edu->gone) {
		err = -ENODEV;
	} else {
		switch (cmd) {
		case EDU_IOC_INFO:
			err = edu_cmd_info(edu, &u.info);
			break;
		case EDU_IOC_FACT:
			err = edu_cmd_fact(edu, &u.fact);
			break;
		case EDU_IOC_DMA:
			err = edu_cmd_dma(edu, &u.dma);
			break;
		default:
			err = edu_cmd_raise(edu, &u.raise);
			break;
		}
	}
	mutex_unlock(&edu->lock);

	if (!err && (_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(uarg, &u, size))
		err = -EFAULT;
	return err;
}

static void edu_free(struct kref *ref)
{
	kfree(container_of(ref, struct edu_dev, ref));
}

static int edu_open(struct inode *inode, struct file *file)
{
	/* misc_open set private_data to our miscdevice. */
	struct edu_dev *edu = container_of(file->private_data,
					   struct edu_dev, misc);

	/*
	 * The file may outlive the device (unbind while open): it holds a
	 * reference to edu, and finds edu->gone set after remove.
	 */
	kref_get(&edu->ref);
	file->private_data = edu;
	return 0;
}

static int edu_release(struct inode *inode, struct file *file)
{
	struct edu_dev *edu = file->private_data;

	kref_put(&edu->ref, edu_free);
	return 0;
}

static const struct file_operations edu_fops = {
	.owner = THIS_MODULE,
	.open = edu_open,
	.release = edu_release,
	.unlocked_ioctl = edu_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* Stops the device from raising interrupts: its state after our commands. */
static void edu_quiesce(struct edu_dev *edu)
{
	edu_write(edu, EDU_REG_STATUS, 0);
	edu_write(edu, EDU_REG_IRQ_ACK, ~0u);
}

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu_dev *edu;
	int irq, err;

	if (atomic_cmpxchg(&edu_claimed, 0, 1)) {
		dev_warn(&pdev->dev, "another edu device already has /dev/edu; ignoring this one\n");
		return -EBUSY;
	}

	edu = kzalloc(sizeof(*edu), GFP_KERNEL);
	if (!edu) {
		err = -ENOMEM;
		goto err_unclaim;
	}
	kref_init(&edu->ref);
	edu->pdev = pdev;
	mutex_init(&edu->lock);
	spin_lock_init(&edu->irq_lock);
	init_waitqueue_head(&edu->irq_wait);
	pci_set_drvdata(pdev, edu);

	err = pci_enable_device(pdev);
	if (err)
		goto err_free;
	err = pci_request_regions(pdev, KBUILD_MODNAME);
	if (err)
		goto err_disable;
	edu->regs = pci_iomap(pdev, 0, 0);
	if (!edu->regs) {
		err = -ENOMEM;
		goto err_release;
	}

	/*
	 * QEMU's edu only drives 28 address bits unless told otherwise
	 * (its dma_mask property); a wider address would be cut off.
	 */
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(28));
	if (err) {
		dev_err(&pdev->dev, "no usable 28-bit DMA mask\n");
		goto err_unmap;
	}
	edu->to_dev = dma_alloc_coherent(&pdev->dev, EDU_DMA_MAX,
					 &edu->to_dev_dma, GFP_KERNEL);
	edu->from_dev = dma_alloc_coherent(&pdev->dev, EDU_DMA_MAX,
					   &edu->from_dev_dma, GFP_KERNEL);
	if (!edu->to_dev || !edu->from_dev) {
		err = -ENOMEM;
		goto err_dma;
	}
	pci_set_master(pdev);

	/* pci_alloc_irq_vectors tries MSI first, then the INTx pin. */
	edu_quiesce(edu);
	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI | PCI_IRQ_LEGACY);
	if (err < 0) {
		dev_err(&pdev->dev, "no interrupt: %d\n", err);
		goto err_master;
	}
	edu->msi = pdev->msi_enabled;
	irq = pci_irq_vector(pdev, 0);
	/* An INTx line may be shared with other devices; an MSI never is. */
	err = request_irq(irq, edu_irq, edu->msi ? 0 : IRQF_SHARED,
			  KBUILD_MODNAME, edu);
	if (err) {
		dev_err(&pdev->dev, "cannot request irq %d: %d\n", irq, err);
		goto err_vectors;
	}

	edu->misc.minor = MISC_DYNAMIC_MINOR;
	edu->misc.name = "edu";
	edu->misc.fops = &edu_fops;
	edu->misc.parent = &pdev->dev;
	err = misc_register(&edu->misc);
	if (err) {
		dev_err(&pdev->dev, "cannot register /dev/edu: %d\n", err);
		goto err_irq;
	}

	dev_info(&pdev->dev, "edu ID 0x%08x, irq %d (%s), /dev/edu\n",
		 edu_read(edu, EDU_REG_ID), irq, edu->msi ? "MSI" : "INTx");
	return 0;

err_irq:
	free_irq(irq, edu);
err_vectors:
	pci_free_irq_vectors(pdev);
err_master:
	pci_clear_master(pdev);
err_dma:
	if (edu->from_dev)
		dma_free_coherent(&pdev->dev, EDU_DMA_MAX, edu->from_dev,
				  edu->from_dev_dma);
	if (edu->to_dev)
		dma_free_coherent(&pdev->dev, EDU_DMA_MAX, edu->to_dev,
				  edu->to_dev_dma);
err_unmap:
	pci_iounmap(pdev, edu->regs);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free:
	kref_put(&edu->ref, edu_free);
err_unclaim:
	atomic_set(&edu_claimed, 0);
	return err;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct edu_dev *edu = pci_get_drvdata(pdev);

	/* No new opens; files already open keep edu alive (see edu_open). */
	misc_deregister(&edu->misc);

	/* Waits for a running command, then makes later ones fail. */
	mutex_lock(&edu->lock);
	edu->gone = true;
	mutex_unlock(&edu->lock);

	edu_quiesce(edu);
	free_irq(pci_irq_vector(pdev, 0), edu);
	pci_free_irq_vectors(pdev);
	/*
	 * Without bus mastering a DMA still in flight (from a command cut
	 * short) goes nowhere, so the buffers can be freed.
	 */
	pci_clear_master(pdev);
	dma_free_coherent(&pdev->dev, EDU_DMA_MAX, edu->from_dev,
			  edu->from_dev_dma);
	dma_free_coherent(&pdev->dev, EDU_DMA_MAX, edu->to_dev,
			  edu->to_dev_dma);
	pci_iounmap(pdev, edu->regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);

	kref_put(&edu->ref, edu_free);
	atomic_set(&edu_claimed, 0);
}

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR_ID, EDU_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name = KBUILD_MODNAME,
	.id_table = edu_ids,
	.probe = edu_probe,
	.remove = edu_remove,
};
module_pci_driver(edu_driver);

MODULE_DESCRIPTION("Driver for QEMU's edu PCI device, with /dev/edu for tests");
MODULE_LICENSE("GPL");
MODULE_VERSION(EDU_BUILD_TAG);
