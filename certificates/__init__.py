"""Certificates of attendance: templates and conditions per event (`templates`), the PDF
(`render`), issuing to those who qualify (`issuing`), and looking one up by its code."""
