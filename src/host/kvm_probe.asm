; The KVM probe guest: a disk that makes the CPU transitions a boot loader
; and a kernel make, under the accelerator being tested. A real-mode boot
; sector is not enough: on some hosts KVM runs it, then stops a real guest
; with "KVM internal error. Suberror: 1" at the first IRET in protected mode.
;
; Stages (each writes its letter to the debug console, port 0xe9, so a
; failure says how far the guest got):
;   R  real mode: the BIOS started the boot sector
;   L  the rest of the probe was read with an int 13h extended read
;   P  protected mode (32-bit flat segments, a TSS loaded)
;   i  a software interrupt in protected mode returned with IRET
;   I  timer interrupts (PIT through the PIC) arrived and returned
;   T  back to real mode for a BIOS call and into protected mode again
;      (the thunk a boot loader like extlinux makes for every disk read)
;   X  long mode with paging; a software interrupt and timer interrupts
;      returned with IRETQ
; then 0x10 to the isa-debug-exit port 0xf4: QEMU exits with status 33.
; A CPU exception in protected or long mode writes '#' and 0x11 instead
; (status 35).
;
; Assembled with `nasm -f bin -o kvm_probe.bin kvm_probe.asm`; the unit test
; `the_committed_probe_matches_its_source` checks the committed binary.

bits 16
org 0x7c00

SECTORS  equ (probe_end - $$ + 511) / 512
DEBUGCON equ 0xe9
EXIT     equ 0xf4
PML4     equ 0x70000          ; page tables: PML4, PDPT, PD (2 MiB pages)

%macro mark 1
    mov al, %1
    out DEBUGCON, al
%endmacro

; Initialise both PICs: vectors %1 (master) and %2 (slave), masks %3, %4.
%macro pic_remap 4
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, %1
    out 0x21, al
    mov al, %2
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, %3
    out 0x21, al
    mov al, %4
    out 0xa1, al
%endmacro

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    jmp 0:.flush               ; CS = 0 whatever the BIOS jumped with
.flush:
    sti
    mov [boot_drive], dl
    mark 'R'
    ; Read the sectors after this one to 0x7e00 (int 13h, AH=42h).
    mov si, dap
    mov ah, 0x42
    mov dl, [boot_drive]
    int 0x13
    jc fail
    mark 'L'
    jmp stage2

fail:
    mark '!'
    cli
.halt:
    hlt
    jmp .halt

boot_drive: db 0
align 4
dap:
    db 16, 0
    dw SECTORS - 1             ; sectors to read
    dw 0x7e00, 0               ; offset, segment
    dq 1                       ; first LBA

times 510 - ($ - $$) db 0
dw 0xaa55

; ---------------------------------------------------------------------------
; Past the boot sector.

stage2:
    cli
    lgdt [gdt_desc]
    call enter_pm32            ; returns in 32-bit protected mode
bits 32
    mark 'P'
    mov ax, TSS_SEL
    ltr ax
    lidt [idt32_desc]
    int 0x80                   ; handler marks 'i' and returns with IRET
    call pic_pit_setup
    mov dword [ticks], 0
    sti
.wait32:
    hlt
    cmp dword [ticks], 3
    jb .wait32
    cli
    mark 'I'

    ; Back to real mode for a BIOS call, and up again.
    call pm32_to_real
bits 16
    sti
    mov ah, 0x88               ; int 15h AH=88h: extended memory size
    int 0x15
    cli
    mov ah, 0x02               ; int 1Ah AH=02h: RTC time
    int 0x1a
    cli
    lgdt [gdt_desc]
    call enter_pm32
bits 32
    mark 'T'
    ; The BIOS reprogrammed nothing we need, but the PIC may have been
    ; touched: set it up again for long mode.
    call pic_pit_setup

    ; Long mode: identity-map the first GiB with 2 MiB pages.
    mov edi, PML4
    mov ecx, 3 * 4096 / 4
    xor eax, eax
    rep stosd
    mov dword [PML4], PML4 + 0x1000 + 3
    mov dword [PML4 + 0x1000], PML4 + 0x2000 + 3
    mov edi, PML4 + 0x2000
    mov eax, 0x83              ; present, writable, 2 MiB
    mov ecx, 512
.map:
    mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    loop .map
    mov eax, cr4
    or eax, 1 << 5             ; PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xc0000080        ; EFER
    rdmsr
    or eax, 1 << 8             ; LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31            ; PG
    mov cr0, eax
    jmp CODE64_SEL:long_mode

bits 64
long_mode:
    mov ax, DATA32_SEL
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, 0x7c00
    lidt [idt64_desc]
    int 0x80
    mov dword [ticks], 0
    sti
.wait64:
    hlt
    cmp dword [ticks], 3
    jb .wait64
    cli
    mark 'X'
    mov al, 0x10
    out EXIT, al
.halt64:
    hlt
    jmp .halt64

isr64_soft:
    push rax
    mark 'j'
    pop rax
    iretq

isr64_timer:
    push rax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al               ; end of interrupt
    pop rax
    iretq

isr64_fault:
    mark '#'
    mov al, 0x11               ; QEMU exits with status 35
    out EXIT, al
    jmp isr64_fault

isr64_other:
    push rax
    mov al, 0x20
    out 0x20, al
    pop rax
    iretq

; ---------------------------------------------------------------------------
bits 32

isr32_soft:
    pushad
    mark 'i'
    popad
    iret

isr32_timer:
    pushad
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    popad
    iret

isr32_fault:
    mark '#'
    mov al, 0x11               ; QEMU exits with status 35
    out EXIT, al
    jmp isr32_fault

isr32_other:
    pushad
    mov al, 0x20
    out 0x20, al
    popad
    iret

; Remap the PIC to vectors 0x20-0x2f, unmask only IRQ0, and run the PIT at
; about 1 kHz.
pic_pit_setup:
    pic_remap 0x20, 0x28, 0xfe, 0xff
    mov al, 0x34               ; channel 0, lo/hi byte, rate generator
    out 0x43, al
    mov al, 0xa9               ; 1193 = 0x04a9: ~1 kHz
    out 0x40, al
    mov al, 0x04
    out 0x40, al
    ret

; From 32-bit protected mode to real mode; returns in real mode (CS = 0).
pm32_to_real:
    pop ebx                    ; return address (below 64 KiB)
    jmp CODE16_SEL:.pm16
bits 16
.pm16:
    mov ax, DATA16_SEL
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and eax, ~1
    mov cr0, eax
    jmp 0:.real
.real:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    ; The real-mode interrupt vector table, and the PIC as the BIOS had it.
    lidt [ivt_desc]
    pic_remap 0x08, 0x70, 0x00, 0x00
    push bx
    ret

; From real mode (GDT loaded, interrupts off) to 32-bit protected mode;
; returns in protected mode.
enter_pm32:
    pop bx
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp CODE32_SEL:.pm32
bits 32
.pm32:
    mov ax, DATA32_SEL
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, 0x7c00
    movzx ebx, bx
    push ebx
    ret

; ---------------------------------------------------------------------------
; Tables.

align 8
gdt:
    dq 0
CODE32_SEL equ $ - gdt
    dq 0x00cf9a000000ffff      ; 32-bit code, flat
DATA32_SEL equ $ - gdt
    dq 0x00cf92000000ffff      ; data, flat
CODE16_SEL equ $ - gdt
    dq 0x00009a000000ffff      ; 16-bit code, 64 KiB
DATA16_SEL equ $ - gdt
    dq 0x000092000000ffff      ; 16-bit data, 64 KiB
CODE64_SEL equ $ - gdt
    dq 0x00af9a000000ffff      ; 64-bit code
TSS_SEL equ $ - gdt
    dw 103                     ; 32-bit TSS, limit
    dw tss                     ; base 0..15 (tss is below 64 KiB)
    db 0                       ; base 16..23
    db 0x89                    ; present, available 32-bit TSS
    db 0, 0
gdt_end:

gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt

ivt_desc:
    dw 0x3ff
    dd 0

align 4
tss:
    dd 0
    dd 0x7000                  ; esp0
    dd DATA32_SEL              ; ss0
    times 104 - 12 db 0

ticks: dd 0

; 32-bit IDT: 256 interrupt gates, filled in below at assembly time.
%macro gate32 1
    dw (%1 - $$ + 0x7c00) & 0xffff
    dw CODE32_SEL
    db 0, 0x8e
    dw (%1 - $$ + 0x7c00) >> 16
%endmacro

align 8
idt32:
%assign v 0
%rep 256
  %if v < 0x20
    gate32 isr32_fault
  %elif v = 0x20
    gate32 isr32_timer
  %elif v = 0x80
    gate32 isr32_soft
  %else
    gate32 isr32_other
  %endif
%assign v v + 1
%endrep
idt32_end:

idt32_desc:
    dw idt32_end - idt32 - 1
    dd idt32

%macro gate64 1
    dw (%1 - $$ + 0x7c00) & 0xffff
    dw CODE64_SEL
    db 0, 0x8e
    dw (%1 - $$ + 0x7c00) >> 16
    dd 0, 0
%endmacro

align 16
idt64:
%assign v 0
%rep 256
  %if v < 0x20
    gate64 isr64_fault
  %elif v = 0x20
    gate64 isr64_timer
  %elif v = 0x80
    gate64 isr64_soft
  %else
    gate64 isr64_other
  %endif
%assign v v + 1
%endrep
idt64_end:

idt64_desc:
    dw idt64_end - idt64 - 1
    dq idt64

probe_end:
