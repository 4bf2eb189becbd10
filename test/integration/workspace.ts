// The files of the workspace the extension-host tests open.

export const WORKSPACE_FILES: Record<string, string> = {
  'story.txt': 'Once upon a time, there was a little girl named Lily.\n',
  'notes.md': '# Notes\n\nOnce upon a time\n',
  'not-a-model.bin': 'this is a text file, not a model\n',
};
