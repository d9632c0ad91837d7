/*
 * The widget's files as read-only data in the binary (webchat_assets.h).
 * .incbin paths are relative to the directory make runs in, the top of the
 * tree; the Makefile lists the files as prerequisites so that editing one
 * rebuilds this object.
 */
	.section .rodata
	.balign 16
	.globl parley_widget_js_start
	.globl parley_widget_js_end
parley_widget_js_start:
	.incbin "src/widget/widget.js"
parley_widget_js_end:
	.byte 0

	.balign 16
	.globl parley_demo_html_start
	.globl parley_demo_html_end
parley_demo_html_start:
	.incbin "src/widget/demo.html"
parley_demo_html_end:
	.byte 0

/* No executable stack for the binary because of this object. */
	.section .note.GNU-stack,"",%progbits
