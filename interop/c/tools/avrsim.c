/*
 * avrsim: runs an AVR firmware (ELF) in libsimavr (Debian libsimavr-dev) with UART0 wired to this process:
 * everything on stdin is fed into the simulated UART (respecting its receive FIFO flow control), everything
 * the firmware transmits goes to stdout. The firmware asks for each input byte by writing GPIOR1 (a real UART
 * would overrun while the firmware computes; this is the simulated equivalent of flow control). Writes to GPIOR0 are cycle markers: "mark <value> <cycle>" lines
 * on stderr, which bench/avr.py turns into cycles per operation. The run ends when the firmware sleeps with
 * interrupts off (simavr's "done"), crashes, or exceeds --max-cycles.
 *
 * --eeprom FILE loads the EEPROM from FILE before the run (when it exists; otherwise it starts erased, 0xFF)
 * and writes it back after the run, so consecutive runs are reboots of one device. --until-lines N ends the run
 * (as a success) once the firmware has printed N lines, for sketches that loop forever.
 *
 * --interactive reads stdin as the firmware asks for it instead of all of it first, flushing stdout before
 * each wait, so a program can hold a conversation with the firmware (the verify adapter of the AVR rows,
 * iotenvelope/verify/peers/c.py); --max-cycles then counts from the last byte read, and end of input ends the
 * run once the firmware asks for more.
 *
 * usage: avrsim [--mcu atmega328p] [--freq 16000000] [--max-cycles N] [--eeprom FILE] [--until-lines N]
 *               [--interactive] firmware.elf < input > output
 */
#include <simavr/avr_eeprom.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>
#include <simavr/sim_irq.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "read_all.h"

/* simavr prints "Loaded ... .text" lines on stdout while reading the ELF file: stdout is for the UART alone */
static int quiet_fd = -1;
static void quiet(int on)
{
    fflush(stdout);
    if (on) {
        int null_fd = open("/dev/null", O_WRONLY);
        quiet_fd = dup(1);
        if (null_fd >= 0 && quiet_fd >= 0) {
            dup2(null_fd, 1);
        }
        if (null_fd >= 0) {
            close(null_fd);
        }
    } else if (quiet_fd >= 0) {
        dup2(quiet_fd, 1);
        close(quiet_fd);
        quiet_fd = -1;
    }
}

static int xon = 1;
static unsigned long lines_out;
static unsigned requests;

static void on_output(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    putchar((int)(value & 0xFFu));
    if ((value & 0xFFu) == '\n') {
        lines_out++;
    }
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    xon = 1;
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    xon = 0;
}

static void on_marker(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)param;
    avr->data[addr] = v;
    fprintf(stderr, "mark %u %llu\n", (unsigned)v, (unsigned long long)avr->cycle);
}

static void on_request(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)param;
    avr->data[addr] = v;
    requests++;
}

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p";
    const char *path = NULL;
    unsigned long freq = 16000000ul;
    unsigned long long max_cycles = 20000000000ull;
    const char *eeprom_path = NULL;
    unsigned long until_lines = 0;
    int interactive = 0;
    unsigned long long budget_from = 0;
    elf_firmware_t fw;
    avr_t *avr;
    unsigned char *input;
    size_t in_len = 0, in_pos = 0;
    uint32_t flags = 0;
    avr_irq_t *in_irq;
    int state;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mcu") == 0 && i + 1 < argc) {
            mcu = argv[++i];
        } else if (strcmp(argv[i], "--freq") == 0 && i + 1 < argc) {
            freq = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--max-cycles") == 0 && i + 1 < argc) {
            max_cycles = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--eeprom") == 0 && i + 1 < argc) {
            eeprom_path = argv[++i];
        } else if (strcmp(argv[i], "--interactive") == 0) {
            interactive = 1;
        } else if (strcmp(argv[i], "--until-lines") == 0 && i + 1 < argc) {
            until_lines = strtoul(argv[++i], NULL, 10);
        } else {
            path = argv[i];
        }
    }
    if (path == NULL) {
        fputs("usage: avrsim [--mcu M] [--freq F] [--max-cycles N] [--eeprom FILE] [--until-lines N] [--interactive] firmware.elf\n",
              stderr);
        return 2;
    }
    memset(&fw, 0, sizeof fw);
    quiet(1);
    i = elf_read_firmware(path, &fw);
    quiet(0);
    if (i != 0) {
        fprintf(stderr, "avrsim: cannot read %s\n", path);
        return 2;
    }
    avr = avr_make_mcu_by_name(mcu);
    if (avr == NULL) {
        fprintf(stderr, "avrsim: unknown mcu %s\n", mcu);
        return 2;
    }
    avr_init(avr);
    avr->log = LOG_ERROR;
    avr->frequency = (uint32_t)freq;
    avr_load_firmware(avr, &fw);
    if (eeprom_path != NULL) {
        FILE *f = fopen(eeprom_path, "rb");
        if (f != NULL) {
            static uint8_t image[65536];
            avr_eeprom_desc_t ee;
            size_t n = fread(image, 1, sizeof image, f);
            fclose(f);
            ee.ee = image;
            ee.offset = 0;
            ee.size = (uint32_t)n;
            if (n == 0 || n > avr->e2end + 1u) {
                fprintf(stderr, "avrsim: %s does not fit the EEPROM of %s\n", eeprom_path, mcu);
                return 2;
            }
            (void)avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &ee); /* its result is not reliable in simavr 1.6: */
            ee.ee = NULL;                                    /* read the EEPROM back instead */
            (void)avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &ee);
            if (ee.ee == NULL || memcmp(ee.ee, image, n) != 0) {
                fprintf(stderr, "avrsim: cannot load %s into the EEPROM\n", eeprom_path);
                return 2;
            }
        }
    }
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)AVR_UART_FLAG_STDIO;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);
    in_irq = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_register_io_write(avr, 0x3E /* GPIOR0 */, on_marker, NULL);
    avr_register_io_write(avr, 0x4A /* GPIOR1 */, on_request, NULL);

    input = interactive ? (unsigned char *)malloc(4096) : read_all(stdin, &in_len);
    if (input == NULL) {
        fputs("avrsim: cannot read stdin\n", stderr);
        return 2;
    }
    for (;;) {
        state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            break;
        }
        if (until_lines > 0 && lines_out >= until_lines) {
            state = cpu_Done;
            break;
        }
        if (avr->cycle - budget_from > max_cycles) {
            fprintf(stderr, "avrsim: stopped after %llu cycles\n", (unsigned long long)avr->cycle);
            state = cpu_Crashed;
            break;
        }
        if (interactive && requests > 0 && xon && in_pos == in_len) {
            ssize_t got;
            fflush(stdout);
            got = read(0, input, 4096);
            if (got <= 0) {
                state = cpu_Done; /* end of input: the conversation is over */
                break;
            }
            in_pos = 0;
            in_len = (size_t)got;
            budget_from = avr->cycle;
        }
        if (requests > 0 && xon && in_pos < in_len) {
            requests--;
            avr_raise_irq(in_irq, input[in_pos++]);
        }
    }
    fflush(stdout);
    if (eeprom_path != NULL) {
        avr_eeprom_desc_t ee;
        FILE *f;
        ee.ee = NULL;
        ee.offset = 0;
        ee.size = avr->e2end + 1u;
        (void)avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &ee); /* simavr 1.6 answers -1 here even when it worked */
        if (ee.ee == NULL || (f = fopen(eeprom_path, "wb")) == NULL ||
            fwrite(ee.ee, 1, ee.size, f) != ee.size || fclose(f) != 0) {
            fprintf(stderr, "avrsim: cannot write %s\n", eeprom_path);
            return 2;
        }
    }
    fprintf(stderr, "cycles %llu\n", (unsigned long long)avr->cycle);
    free(input);
    return state == cpu_Done ? 0 : 1;
}
